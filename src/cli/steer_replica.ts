/**
 * Entry point of one steering replica (src/run/replicas.ts forks it; the steer verbs name it, see
 * `STEER_ENTRY` in commands/steer.ts): computes the sweep and its controls with the other replicas,
 * each evaluating its share of the probes; the first reports progress and returns the results.
 */
import { initEngine } from '../engine/backend.js';
import { type SteerSpec, steerResults } from '../pipeline/steer.js';
import type { SteerResults } from '../steer/results.js';
import { serveReplica } from '../run/replicas.js';

serveReplica<SteerSpec, SteerResults, 'onProgress'>(async (spec, replica) => {
  await initEngine();
  const leader = replica.index === 0;
  const results = await steerResults(spec, replica, leader ? (done, total) => replica.hook('onProgress', [done, total]) : undefined);
  return leader ? results : null;
});
