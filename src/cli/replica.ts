/**
 * Entry point of one data-parallel training replica (src/run/replicas.ts forks it; the training verbs
 * name it, see `REPLICA_ENTRY` in commands/train.ts): waits for its spec, trains its share of every
 * batch, averages gradients with the other replicas through files (`GradientExchange`), and reports.
 * Only replica 0 forwards progress and returns the stage's result.
 */
import { initEngine } from '../engine/backend.js';
import { executeTraining, type TrainHooks, type TrainSpec, type TrainStageResult } from '../pipeline/train.js';
import { serveReplica } from '../run/replicas.js';

serveReplica<TrainSpec, TrainStageResult, keyof TrainHooks>(async (spec, replica) => {
  await initEngine();
  const forward =
    <K extends keyof TrainHooks>(name: K) =>
    (arg: unknown): void => {
      replica.hook(name, arg);
    };
  const hooks: TrainHooks = replica.index === 0 ? { onStart: forward('onStart'), onStep: forward('onStep'), onEpoch: forward('onEpoch') } : {};
  return executeTraining(spec, hooks, replica);
});
