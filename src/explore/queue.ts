/**
 * The explorer's compute queue: every fast-path computation (an off-grid point, sample predictions, a
 * target search, a latent steered alone) runs here, one job at a time, with a turn of the event loop
 * between jobs so that the page, the precomputed grid points and other cheap routes are answered
 * between two jobs instead of behind all of them (docs/design.md "Explorer under load").
 *
 * The queue is bounded: at most `capacity` distinct jobs wait or run; a request for a new job beyond
 * that is refused with `QueueFull` (the server's 503 with Retry-After), so no request waits longer than
 * `capacity` jobs. A request for a job already waiting or running (same key) shares its answer.
 */

/** Thrown by `ComputeQueue.run` when the queue is full; `retryAfter` is whole seconds. */
export class QueueFull extends Error {
  constructor(readonly retryAfter: number) {
    super(`the explorer is busy computing (queue full); retry in ${retryAfter} s`);
  }
}

interface Job {
  key: string;
  work: () => unknown;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export interface ComputeQueue {
  /** `work()`'s result, computed after the jobs before it; shared with any waiting or running job of the same key. */
  run<T>(key: string, work: () => T): Promise<T>;
  /** Jobs waiting or running. */
  readonly size: number;
}

/** A queue of at most `capacity` (>= 0; 0 refuses all work) jobs, run in order on the main thread. */
export function computeQueue(capacity: number): ComputeQueue {
  const waiting: Job[] = [];
  const inFlight = new Map<string, Promise<unknown>>();
  let running = false;
  /** Mean seconds per job so far (exponential average), for Retry-After; 0.2 s before the first job. */
  let meanSeconds = 0.2;

  const next = (): void => {
    const job = waiting.shift();
    if (job === undefined) {
      running = false;
      return;
    }
    const started = performance.now();
    try {
      job.resolve(job.work());
    } catch (e) {
      job.reject(e);
    }
    meanSeconds = 0.8 * meanSeconds + 0.2 * ((performance.now() - started) / 1000);
    inFlight.delete(job.key);
    setImmediate(next); // let waiting I/O (cheap routes) through before the next job
  };

  return {
    run<T>(key: string, work: () => T): Promise<T> {
      const shared = inFlight.get(key);
      if (shared !== undefined) return shared as Promise<T>;
      if (inFlight.size >= capacity) throw new QueueFull(Math.max(1, Math.ceil(inFlight.size * meanSeconds)));
      const p = new Promise<unknown>((resolve, reject) => waiting.push({ key, work, resolve, reject }));
      inFlight.set(key, p);
      if (!running) {
        running = true;
        setImmediate(next);
      }
      return p as Promise<T>;
    },
    get size() {
      return inFlight.size;
    },
  };
}
