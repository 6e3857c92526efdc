/**
 * `probeRuns` shared by replica processes (the `steer` stage with `steer.workers` > 1, see
 * src/pipeline/steer.ts): replica r of n evaluates probes r, r + n, r + 2n, ... on every test batch,
 * so that each gets a mix of the cheap and the costly ones, and the replicas then gather each other's
 * runs (src/run/replicas.ts). Every replica thus holds every run, each from the same batches as
 * `probeRuns` in one process; class indices travel as float32, which holds them exactly.
 * Legend: N test images, H heads.
 */
import type { ReplicaContext } from '../run/replicas.js';
import type { FinalLayerRun } from './fastpath_eval.js';
import { probeRuns, type Probe, type SteerContext } from './sweep.js';

/** What sharing probes needs of a replica: its place among them, and their gathering. */
export type ProbeSharing = Pick<ReplicaContext<string>, 'index' | 'count' | 'allGather'>;

/** The runs of `probes`, in their order, computed by all the replicas together. */
export async function sharedProbeRuns(
  ctx: SteerContext,
  probes: readonly Probe[],
  replica: ProbeSharing,
  onProgress?: (done: number, total: number) => void,
): Promise<FinalLayerRun[]> {
  const N = ctx.features.count;
  const width = N * (1 + ctx.manifest.heads); // a run as [predictions (N), masks (N, H)]
  const { index, count } = replica;
  const mine = probes.filter((_, p) => p % count === index);
  const own = probeRuns(ctx, mine, onProgress);
  const flat = new Float32Array(own.length * width);
  own.forEach((run, i) => {
    flat.set(run.predictions, i * width);
    flat.set(run.masks, i * width + N);
  });
  const parts = await replica.allGather(flat); // replica r's holds probes r, r + n, ... in order
  return probes.map((_, p) => {
    const at = Math.floor(p / count) * width;
    const part = parts[p % count]!;
    return { predictions: Int32Array.from(part.subarray(at, at + N)), masks: part.subarray(at + N, at + width) };
  });
}
