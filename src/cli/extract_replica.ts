/**
 * Entry point of one extraction replica (src/run/replicas.ts forks it; the extract verbs name it, see
 * `EXTRACT_ENTRY` in commands/features.ts): extracts its share of each split and sends it batch by batch.
 */
import { initEngine } from '../engine/backend.js';
import { type ExtractSpec, serveExtractShare } from '../pipeline/extract.js';
import { serveReplica } from '../run/replicas.js';

serveReplica<ExtractSpec, null, 'onRows'>(async (spec, replica) => {
  await initEngine();
  await serveExtractShare(spec, replica.index, replica.count, (rows) => {
    replica.hook('onRows', rows);
  });
  return null;
});
