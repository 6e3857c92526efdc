/**
 * Data-parallel training over replica processes (the second core does more than BLAS): the calling
 * process forks `count` copies of an entry script the caller names (the CLI's `src/cli/replica.ts`);
 * each builds the same model from the same spec, takes its share of every batch and sends its
 * gradients here; this process averages them in replica order (deterministic) and sends the mean back,
 * so every replica applies the identical AdamW update.
 * Each replica runs OpenBLAS single-threaded (OPENBLAS_NUM_THREADS=1): the parallelism is across
 * replicas. Only replica 0 writes checkpoints, metrics and eval.json, and its progress is forwarded.
 * What a spec, a result and the progress hooks are is the caller's business (src/pipeline/train.ts):
 * they only travel here, as structured clones.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { UserError } from '../errors.js';

/** Messages from the coordinator to a replica training spec S. */
export type ToReplica<S> = { type: 'start'; spec: S; index: number; count: number } | { type: 'mean'; values: Float32Array };
/** Messages from a replica: R is its result (the leader's is kept), K names its progress hooks. */
export type FromReplica<R, K extends string> =
  | { type: 'reduce'; values: Float32Array }
  | { type: 'hook'; name: K; arg: unknown }
  | { type: 'done'; result: R | null }
  | { type: 'error'; message: string; user: boolean };

/** Progress callbacks by name, each called with the one argument the leader forwarded. */
export type ReplicaHooks<K extends string> = Partial<Record<K, (arg: never) => void>>;

/** Train `spec` in `count` processes running `entry`; resolves with the leader's result. */
export function trainInReplicas<S, R, K extends string>(entry: string, spec: S, count: number, hooks: ReplicaHooks<K>): Promise<R> {
  return new Promise((resolve, reject) => {
    const children: ChildProcess[] = [];
    const pending: Array<Float32Array | null> = Array.from({ length: count }, () => null);
    let finished = 0;
    let result: R | null = null;
    let failed = false;
    // Ctrl-C / kill of the CLI: the replicas go with it (their last checkpoint stays resumable).
    const stop = (): void => fail(new UserError('interrupted; rerun with --resume to continue from the last checkpoint'));
    const release = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      release();
      for (const c of children) c.kill('SIGKILL');
      reject(err);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    const onMessage = (index: number, msg: FromReplica<R, K>): void => {
      switch (msg.type) {
        case 'reduce': {
          pending[index] = msg.values;
          if (pending.some((v) => v === null)) return;
          const mean = new Float32Array(msg.values.length);
          for (const v of pending as Float32Array[]) for (let i = 0; i < mean.length; i++) mean[i]! += v[i]!;
          for (let i = 0; i < mean.length; i++) mean[i]! /= count;
          pending.fill(null);
          for (const c of children) c.send({ type: 'mean', values: mean } satisfies ToReplica<S>);
          return;
        }
        case 'hook':
          (hooks[msg.name] as ((arg: unknown) => void) | undefined)?.(msg.arg);
          return;
        case 'done':
          if (index === 0) result = msg.result;
          finished += 1;
          if (finished === count) {
            release();
            resolve(result!);
          }
          return;
        case 'error':
          fail(msg.user ? new UserError(msg.message) : new Error(`replica ${index}: ${msg.message}`));
      }
    };
    for (let index = 0; index < count; index++) {
      const child = fork(entry, [], {
        serialization: 'advanced', // typed arrays travel as binary, not JSON
        env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      child.on('message', (m) => onMessage(index, m as FromReplica<R, K>));
      child.on('exit', (code, signal) => {
        if (code !== 0 && !failed && finished < count) fail(new Error(`training replica ${index} exited (${signal ?? `code ${code}`})`));
      });
      child.send({ type: 'start', spec, index, count } satisfies ToReplica<S>);
    }
  });
}
