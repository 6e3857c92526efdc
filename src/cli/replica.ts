/**
 * Entry point of one data-parallel training replica (src/train/replicas.ts forks it; the training verbs
 * name it, see `REPLICA_ENTRY` in commands/train.ts): waits for its spec, trains its share of every
 * batch, averages gradients with the other replicas through files (`GradientExchange`), and reports.
 */
import { initEngine } from '../engine/backend.js';
import { UserError } from '../errors.js';
import { executeTraining, type TrainHooks, type TrainSpec, type TrainStageResult } from '../pipeline/train.js';
import { GradientExchange, type FromReplica, type ToReplica } from '../train/replicas.js';

/** What this replica tells the coordinator. */
type Reply = FromReplica<TrainStageResult, keyof TrainHooks>;

const send = (m: Reply): void => {
  process.send?.(m);
};

let exchange: GradientExchange | null = null;

process.on('message', (raw) => {
  const msg = raw as ToReplica<TrainSpec>;
  if (msg.type === 'reduced') {
    exchange?.allWritten();
    return;
  }
  const gradients = new GradientExchange(msg.exchange, msg.index, msg.count, () => send({ type: 'written' }));
  exchange = gradients;
  void (async () => {
    try {
      await initEngine();
      const forward =
        <K extends keyof TrainHooks>(name: K) =>
        (arg: unknown): void =>
          send({ type: 'hook', name, arg });
      const hooks: TrainHooks = msg.index === 0 ? { onStart: forward('onStart'), onStep: forward('onStep'), onEpoch: forward('onEpoch') } : {};
      const result = await executeTraining(msg.spec, hooks, {
        index: msg.index,
        count: msg.count,
        allReduce: (values) => gradients.mean(values),
      });
      gradients.close();
      process.send?.({ type: 'done', result } satisfies Reply, undefined, {}, () => process.exit(0));
    } catch (e) {
      const m: Reply = { type: 'error', message: e instanceof Error ? e.message : String(e), user: e instanceof UserError };
      process.send?.(m, undefined, {}, () => process.exit(1));
    }
  })();
});
