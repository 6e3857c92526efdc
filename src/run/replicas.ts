/**
 * Work shared by replica processes, so that the second core does more than BLAS: data-parallel
 * training (src/train/loop.ts) and extraction (src/pipeline/extract.ts). The calling process forks
 * `count` copies of an entry script the caller names (the CLI's `src/cli/replica.ts`,
 * `src/cli/extract_replica.ts`); each serves one spec (`serveReplica`) with its index, and its result
 * comes back here. Each replica runs OpenBLAS single-threaded (OPENBLAS_NUM_THREADS=1): the
 * parallelism is across replicas.
 *
 * Training replicas build the same model from the same spec, take their share of every batch and
 * average gradients through files, not messages (`GradientExchange`): each replica writes its vector
 * to its own file in a fresh folder (under /dev/shm where it exists, so in memory), says so here in a
 * message of a few bytes, and once all have, reads every replica's file and averages them in replica
 * order into a buffer it keeps. Every replica thus computes the identical mean, with the same float32
 * additions as one coordinator would, and applies the identical AdamW update; nothing is serialised or
 * allocated per step. What a spec, a result and the progress hooks are is the caller's business: they
 * only travel here, as structured clones.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fstatSync, ftruncateSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';

/** Messages from the coordinator to a replica serving spec S; `exchange` is the gradient files' folder. */
export type ToReplica<S> = { type: 'start'; spec: S; index: number; count: number; exchange: string } | { type: 'reduced' };
/** Messages from a replica: R is its result, K names its progress hooks. */
export type FromReplica<R, K extends string> =
  | { type: 'written' }
  | { type: 'hook'; name: K; arg: unknown }
  | { type: 'done'; result: R | null }
  | { type: 'error'; message: string; user: boolean };

/** Progress callbacks by name, each called with the one argument a replica sent. */
export type ReplicaHooks<K extends string> = Partial<Record<K, (arg: never) => void>>;

/** What a replica's work sees of the others: its place among them, the gradient average, its progress hooks. */
export interface ReplicaContext<K extends string> {
  index: number;
  count: number;
  /** Element-wise mean over all the replicas of `values` (same length in each); the result may be reused by the next call. */
  allReduce(values: Float32Array): Promise<Float32Array>;
  /** Every replica's `values` (any lengths), by index. */
  allGather(values: Float32Array): Promise<Float32Array[]>;
  /** Call the coordinator's hook `name` with `arg`. */
  hook(name: K, arg: unknown): void;
}

/**
 * Serve `spec` in `count` processes running `entry`; resolves with every replica's result, by index.
 * On Ctrl-C or kill the replicas go too, and the promise rejects with `interrupted` (how to go on).
 */
export function runInReplicas<S, R, K extends string>(
  entry: string,
  spec: S,
  count: number,
  hooks: ReplicaHooks<K>,
  interrupted: string,
): Promise<(R | null)[]> {
  return new Promise((resolve, reject) => {
    const children: ChildProcess[] = [];
    const exchange = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'headsteer-gradients-'));
    let written = 0;
    let finished = 0;
    const results: (R | null)[] = new Array<R | null>(count).fill(null);
    let failed = false;
    const stop = (): void => fail(new UserError(interrupted));
    const release = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      rmSync(exchange, { recursive: true, force: true });
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
        case 'written': {
          written += 1;
          if (written < count) return;
          written = 0;
          // Every replica has opened every file by its first write: unlinked, they live on through the
          // open descriptors and vanish with the processes, whatever kills them.
          rmSync(exchange, { recursive: true, force: true });
          for (const c of children) c.send({ type: 'reduced' } satisfies ToReplica<S>);
          return;
        }
        case 'hook':
          (hooks[msg.name] as ((arg: unknown) => void) | undefined)?.(msg.arg);
          return;
        case 'done':
          results[index] = msg.result;
          finished += 1;
          if (finished === count) {
            release();
            resolve(results);
          }
          return;
        case 'error':
          fail(msg.user ? new UserError(msg.message) : new Error(`replica ${index}: ${msg.message}`));
      }
    };
    for (let index = 0; index < count; index++) {
      const child = fork(entry, [], {
        serialization: 'advanced', // typed arrays travel as binary, not JSON
        // V8's background GC threads would compete with the other replicas for the cores, and a step
        // waits for the slowest replica: collecting on the replica's own thread cut 2.7% of a default
        // pretraining's wall time (0.5 epochs, 10 interleaved pairs, 0.905-0.998; same weights).
        execArgv: [...process.execArgv, '--single-threaded-gc'],
        env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      children.push(child);
      child.on('message', (m) => onMessage(index, m as FromReplica<R, K>));
      child.on('exit', (code, signal) => {
        if (code !== 0 && !failed && finished < count) fail(new Error(`replica ${index} exited (${signal ?? `code ${code}`})`));
      });
      child.send({ type: 'start', spec, index, count, exchange } satisfies ToReplica<S>);
    }
  });
}

/**
 * The replica process's side (call it once in an entry script): waits for the coordinator's spec, runs
 * `work` on it and sends back its result, or its error (a UserError stays one).
 */
export function serveReplica<S, R, K extends string>(work: (spec: S, replica: ReplicaContext<K>) => Promise<R | null>): void {
  const send = (m: FromReplica<R, K>, then?: () => void): void => {
    process.send?.(m, undefined, {}, then);
  };
  let exchange: GradientExchange | null = null;
  process.on('message', (raw) => {
    const msg = raw as ToReplica<S>;
    if (msg.type === 'reduced') {
      exchange?.allWritten();
      return;
    }
    const gradients = new GradientExchange(msg.exchange, msg.index, msg.count, () => send({ type: 'written' }));
    exchange = gradients;
    void (async () => {
      try {
        const result = await work(msg.spec, {
          index: msg.index,
          count: msg.count,
          allReduce: (values) => gradients.mean(values),
          allGather: (values) => gradients.gather(values),
          hook: (name, arg) => send({ type: 'hook', name, arg }),
        });
        gradients.close();
        send({ type: 'done', result }, () => process.exit(0));
      } catch (e) {
        send({ type: 'error', message: e instanceof Error ? e.message : String(e), user: e instanceof UserError }, () => process.exit(1));
      }
    })();
  });
}

/**
 * A replica's side of the exchange: `mean(values)` writes them to this replica's file in `folder`,
 * calls `announce` (the replica tells the coordinator), waits for `allWritten` (called when the
 * coordinator says every file is written), then reads the other replicas' files and returns the
 * element-wise mean of all the vectors, in float32 as a sum in replica order and one division;
 * `gather(values)` returns every replica's vector instead (results shared rather than averaged). Steps
 * alternate between two files per replica, so a replica that is a step ahead never overwrites a file
 * another still reads (it cannot get two steps ahead: each step waits for every replica's file). The
 * mean's array is reused by the next call. Vectors may change length from call to call (the epoch's
 * shared evaluation travels the same way).
 */
export class GradientExchange {
  private sum = new Float32Array(0);
  private part = new Float32Array(0);
  /** File descriptors by step parity, then replica. */
  private files: number[][] = [];
  private step = 0;
  private pending: (() => void) | null = null;

  constructor(
    private readonly folder: string,
    private readonly index: number,
    private readonly count: number,
    private readonly announce: () => void,
  ) {}

  /** The coordinator's word that every replica has written its file for this step. */
  allWritten(): void {
    this.pending?.();
    this.pending = null;
  }

  async mean(values: Float32Array): Promise<Float32Array> {
    if (this.sum.length !== values.length) [this.sum, this.part] = [new Float32Array(values.length), new Float32Array(values.length)];
    const files = await this.publish(values);
    // In replica order; this replica's own vector comes from `values`, not back from its file (the same
    // floats), so every replica adds identical numbers in an identical order. The last addition and the
    // division share a pass (fround keeps the sum's float32 rounding); one replica's mean is its values.
    const { sum, part, count } = this;
    files.forEach((fd, i) => {
      const add = i === this.index ? values : this.read(fd, part);
      if (i === 0) sum.set(add);
      else if (i < count - 1) for (let j = 0; j < sum.length; j++) sum[j]! += add[j]!;
      else for (let j = 0; j < sum.length; j++) sum[j] = Math.fround(sum[j]! + add[j]!) / count;
    });
    return sum;
  }

  /**
   * Every replica's `values` by replica index, of any lengths (results to share rather than average):
   * this replica's entry is `values` itself, the others' are new arrays.
   */
  async gather(values: Float32Array): Promise<Float32Array[]> {
    const files = await this.publish(values);
    return files.map((fd, i) => (i === this.index ? values : this.read(fd, new Float32Array(fstatSync(fd).size / 4))));
  }

  /** Write `values` as this replica's file of the step, alone in it, and wait until every replica has written its own. */
  private async publish(values: Float32Array): Promise<number[]> {
    if (this.files.length === 0) {
      // 'a+' creates a file its writer has not opened yet; its writer's 'w+' then opens the same one.
      this.files = [0, 1].map((parity) =>
        Array.from({ length: this.count }, (_, i) => openSync(join(this.folder, `${i}.${parity}.f32`), i === this.index ? 'w+' : 'a+')),
      );
    }
    const files = this.files[this.step % 2]!;
    this.step += 1;
    const own = files[this.index]!;
    writeSync(own, new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 0, values.byteLength, 0);
    if (fstatSync(own).size > values.byteLength) ftruncateSync(own, values.byteLength); // a longer earlier vector's tail
    await new Promise<void>((resolve) => {
      this.pending = resolve;
      this.announce();
    });
    return files;
  }

  /** Another replica's file, whole, into `into`. */
  private read(fd: number, into: Float32Array): Float32Array {
    const got = readSync(fd, new Uint8Array(into.buffer, into.byteOffset, into.byteLength), 0, into.byteLength, 0);
    if (got !== into.byteLength) throw new Error(`gradient exchange: read ${got} of ${into.byteLength} bytes of a replica's file in ${this.folder}`);
    return into;
  }

  close(): void {
    for (const fd of this.files.flat()) closeSync(fd);
    this.files = [];
  }
}
