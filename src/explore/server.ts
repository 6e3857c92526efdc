/**
 * The explorer's HTTP server (`headsteer explore`): one page and a small JSON API over a finished run,
 * bound to the loopback interface only.
 *
 *   GET /                                            the page (page.ts)
 *   GET /api/meta                                    classes, heads, alpha grid, unsteered figures, curves
 *   GET /api/point?strategy=&alpha=&class=           steered vs unsteered accuracy, usage, per-head rates
 *   GET /api/images?strategy=&alpha=&class=[&count=] sample test images with predictions before/after
 *   GET /api/target?usage=[&class=]                  each strategy's alpha and the threshold's beta at
 *                                                    final-layer usage U, and the accuracy there (TargetView)
 *   GET /latents[?set=c]                             the latent view's page (latents_page.ts)
 *   GET /api/latents                                 every latent's row of the table (LatentList)
 *   GET /api/latent?i=                               latent i's dashboard with its images (LatentView)
 *   GET /api/latent-steer?i=&alpha=                  latent i alone steered through the fast path (LatentSteerView)
 *
 * `class` is `all` or a class index; `alpha` any number in [-1, 1.5]; `usage` any number in [0, 1],
 * searched to the nearest 0.001 (the solver's tolerance is 0.01); `i` a latent index below the SAE's
 * width, `set` a class index. Without `<run>/latents/` the latent routes get 404 naming `headsteer latents`.
 * Bad parameters get 400 with a
 * one-line message; unknown routes, and any path that spells `..` (raw or percent-encoded), get 404.
 * A target request starts searches for TARGET_BUDGET_MS at most and names the knobs left `pending`.
 * Every fast-path computation (off-grid points, images, target, latent-steer) runs on a bounded compute
 * queue (queue.ts): identical requests share one job, a full queue answers 503 with Retry-After, and the
 * page and grid points are answered between jobs, never behind the queue. Pages carry a hash-based
 * Content-Security-Policy and no answer may be framed (csp.ts); API requests another site's page sends
 * (Sec-Fetch-Site cross-site or same-site, or a foreign Origin) get 403.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { initEngine } from '../engine/backend.js';
import { UserError } from '../errors.js';
import { STRATEGIES, type Strategy } from '../steer/strategies.js';
import { openExplorerData, type ClassChoice, type ExplorerData } from './data.js';
import { hasLatents, openLatentsData, type LatentsData } from './latents.js';
import { latentsPage } from './latents_page.js';
import { computeQueue, QueueFull } from './queue.js';
import { API_POLICY, crossSite, pagePolicy, SECURITY_HEADERS } from './csp.js';
import { explorerPage } from './page.js';

/** The only interface the explorer listens on. */
export const LOOPBACK = '127.0.0.1';
export const DEFAULT_PORT = 8080;
/** Sample images per request unless `count` says otherwise, and the most it may say. */
export const DEFAULT_SAMPLES = 12;
const MAX_SAMPLES = 48;
/**
 * Distinct fast-path jobs at once (queue.ts): at ~0.2 s per off-grid point on 10k test images, the last
 * of 32 waits ~6 s; beyond that a client is better told to retry than left waiting.
 */
export const DEFAULT_QUEUE = 32;

export interface ExplorerOptions {
  /** Run folder with `steer/results.json`, features, sae, stats and the pruned checkpoint. */
  run: string;
  /** TCP port on 127.0.0.1; 0 picks a free one. @default 8080 */
  port?: number;
  /** Fast-path jobs that may wait or run at once before new ones get 503 (queue.ts); 0 serves the precomputed grid only. @default DEFAULT_QUEUE */
  queue?: number;
}

export interface Explorer {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  /** Stop listening, drop open connections and free the model's tensors. Idempotent. */
  close(): Promise<void>;
}

/** Answered with a status and a JSON `{ error }` body. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** True when a request path, decoded up to three times, names a parent directory or escapes the URL. */
export function isTraversal(rawPath: string): boolean {
  let p = rawPath;
  for (let round = 0; round < 4; round++) {
    if (/(^|[/\\])\.\.([/\\]|$)/.test(p) || p.includes('\\') || p.includes('\0')) return true;
    let next: string;
    try {
      next = decodeURIComponent(p);
    } catch {
      return true; // malformed escapes: refuse rather than guess
    }
    if (next === p) return false;
    p = next;
  }
  return true; // still encoded after four rounds
}

type Query = Map<string, string>;

/** Query parameters, refusing repeated or unexpected keys. */
function parseQuery(params: URLSearchParams, allowed: readonly string[]): Query {
  const q: Query = new Map();
  for (const [k, v] of params) {
    if (!allowed.includes(k)) throw new HttpError(400, `unknown parameter '${k}'; expected ${allowed.join(', ')}`);
    if (q.has(k)) throw new HttpError(400, `parameter '${k}' given twice`);
    q.set(k, v);
  }
  return q;
}

function required(q: Query, key: string): string {
  const v = q.get(key);
  if (v === undefined || v === '') throw new HttpError(400, `missing parameter '${key}'`);
  return v;
}

function strategyParam(q: Query): Strategy {
  const s = required(q, 'strategy');
  const found = STRATEGIES.find((x) => x === s);
  if (found === undefined) throw new HttpError(400, `strategy must be one of ${STRATEGIES.join(', ')}; got '${s}'`);
  return found;
}

/** Decimal number tokens only: no hex, no Infinity, no whitespace that Number() would forgive. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function alphaParam(q: Query): number {
  const raw = required(q, 'alpha');
  const a = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(a) || a < -1 || a > 1.5) throw new HttpError(400, `alpha must be a number in [-1, 1.5]; got '${raw}'`);
  return Math.round(a * 1e6) / 1e6; // one cache entry per typed value, whatever its float noise
}

function usageParam(q: Query): number {
  const raw = required(q, 'usage');
  const u = DECIMAL.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(u) || u < 0 || u > 1) throw new HttpError(400, `usage must be a number in [0, 1] (a fraction of final-layer heads); got '${raw}'`);
  return Math.round(u * 1000) / 1000; // one cache entry per 0.001: finer targets are below the solver's tolerance of 0.01
}

function classParam(q: Query, numClasses: number): ClassChoice {
  const raw = q.get('class') ?? 'all';
  if (raw === 'all') return 'all';
  const c = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(c) || c >= numClasses) throw new HttpError(400, `class must be 'all' or an integer in [0, ${numClasses - 1}]; got '${raw}'`);
  return c;
}

function countParam(q: Query): number {
  const raw = q.get('count');
  if (raw === undefined) return DEFAULT_SAMPLES;
  const n = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_SAMPLES) throw new HttpError(400, `count must be an integer in [1, ${MAX_SAMPLES}]; got '${raw}'`);
  return n;
}

/** Latent index `i` in [0, F). */
function latentParam(q: Query, numLatents: number): number {
  const raw = required(q, 'i');
  const i = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(i) || i >= numLatents) throw new HttpError(400, `i must be a latent index, an integer in [0, ${numLatents - 1}]; got '${raw}'`);
  return i;
}

/** The latent view's data, or 404 naming the verb that writes it. */
function latentsOf(latents: LatentsData | null): LatentsData {
  if (latents === null) throw new HttpError(404, 'this run has no latent dashboards; run `headsteer latents` first');
  return latents;
}

/** An answer's content type and body; pages carry their own Content-Security-Policy (csp.ts). */
type Answer = { type: string; body: string; csp?: string };

function send(res: ServerResponse, status: number, a: Answer, head: boolean): void {
  res.writeHead(status, {
    'cache-control': 'no-store',
    ...SECURITY_HEADERS,
    'content-security-policy': a.csp ?? API_POLICY,
    'content-type': a.type,
    'content-length': Buffer.byteLength(a.body),
  });
  res.end(head ? undefined : a.body);
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, json(value), head);
}

/** A page with its policy. */
function html(body: string): Answer {
  return { type: 'text/html; charset=utf-8', body, csp: pagePolicy(body) };
}

/** A route's answer now, or the fast-path work that makes it (run on the compute queue, keyed by `key`). */
type Routed = Answer | { key: string; compute: () => Answer };

const json = (v: unknown): Answer => ({ type: 'application/json; charset=utf-8', body: JSON.stringify(v) });

/** Route one request; throws HttpError for anything but a 200. Parameters are checked before any work is queued. */
function route(req: IncomingMessage, data: ExplorerData, pages: { steer: Answer; latents: Answer }, latents: LatentsData | null): Routed {
  const raw = req.url ?? '/';
  const rawPath = raw.split('?')[0] ?? '/';
  if (isTraversal(rawPath)) throw new HttpError(404, 'not found');
  const url = new URL(raw, `http://${LOOPBACK}`);
  const key = url.pathname + url.search;
  const C = data.meta.classNames.length;
  switch (url.pathname) {
    case '/':
    case '/index.html':
      parseQuery(url.searchParams, []);
      return pages.steer;
    case '/api/meta':
      parseQuery(url.searchParams, []);
      return json(data.meta);
    case '/api/point': {
      const q = parseQuery(url.searchParams, ['strategy', 'alpha', 'class']);
      const [s, a, c] = [strategyParam(q), alphaParam(q), classParam(q, C)];
      const compute = (): Answer => json(data.point(s, a, c));
      return data.precomputed(s, a, c) ? compute() : { key, compute };
    }
    case '/api/images': {
      const q = parseQuery(url.searchParams, ['strategy', 'alpha', 'class', 'count']);
      const [s, a, c, n] = [strategyParam(q), alphaParam(q), classParam(q, C), countParam(q)];
      return { key, compute: () => json({ images: data.samples(s, a, c, n) }) };
    }
    case '/api/target': {
      const q = parseQuery(url.searchParams, ['usage', 'class']);
      const [u, c] = [usageParam(q), classParam(q, C)];
      return { key, compute: () => json(data.target(u, c)) };
    }
    case '/latents': {
      const q = parseQuery(url.searchParams, ['set']);
      const set = q.get('set');
      if (set !== undefined && set !== 'all' && !(/^\d+$/.test(set) && Number(set) < C))
        throw new HttpError(400, `set must be 'all' or a class index, an integer in [0, ${C - 1}]; got '${set}'`);
      return pages.latents;
    }
    case '/api/latents':
      parseQuery(url.searchParams, []);
      return json(latentsOf(latents).list());
    case '/api/latent': {
      const q = parseQuery(url.searchParams, ['i']);
      return json(latentsOf(latents).view(latentParam(q, data.context.sae.dSae)));
    }
    case '/api/latent-steer': {
      const q = parseQuery(url.searchParams, ['i', 'alpha']);
      const l = latentsOf(latents);
      const [i, a] = [latentParam(q, data.context.sae.dSae), alphaParam(q)];
      return { key, compute: () => json(l.steer(i, a)) };
    }
    default:
      throw new HttpError(404, 'not found');
  }
}

/** Requests must name this server (blocks DNS-rebinding pages from reading the API). */
function hostAllowed(host: string | undefined, port: number): boolean {
  return host === `${LOOPBACK}:${port}` || host === `localhost:${port}`;
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      reject(e.code === 'EADDRINUSE' ? new UserError(`port ${port} on ${LOOPBACK} is in use; pass --port 0 to pick a free one`) : e);
    };
    server.once('error', onError);
    server.listen(port, LOOPBACK, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Load the run and serve the explorer on 127.0.0.1 until `close()`. */
export async function startExplorer(opts: ExplorerOptions): Promise<Explorer> {
  const port = opts.port ?? DEFAULT_PORT;
  if (opts.queue !== undefined && !(Number.isInteger(opts.queue) && opts.queue >= 0)) throw new UserError(`--queue must be an integer >= 0; got ${opts.queue}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port must be an integer in [0, 65535]; got ${port}`);
  await initEngine();
  const data = openExplorerData(opts.run);
  let latents: LatentsData | null;
  try {
    latents = hasLatents(opts.run) ? openLatentsData(opts.run, data.context) : null;
  } catch (e) {
    data.dispose();
    throw e;
  }
  const pages = { steer: html(explorerPage(data.meta.run)), latents: html(latentsPage(data.meta.run)) };
  const queue = computeQueue(opts.queue ?? DEFAULT_QUEUE);
  const fail = (res: ServerResponse, e: unknown, head: boolean): void => {
    const status = e instanceof HttpError ? e.status : e instanceof QueueFull ? 503 : e instanceof UserError ? 400 : 500;
    if (e instanceof QueueFull) res.setHeader('retry-after', String(e.retryAfter));
    sendJson(res, status, { error: e instanceof Error ? e.message : String(e) }, head);
  };
  let bound = 0;
  const server = createServer((req, res) => {
    const head = req.method === 'HEAD';
    try {
      if (req.method !== 'GET' && !head) throw new HttpError(405, `method ${req.method ?? '?'} not allowed; the explorer is read-only`);
      if (!hostAllowed(req.headers.host, bound)) throw new HttpError(403, `unexpected Host header '${req.headers.host ?? ''}'`);
      const foreign = (req.url ?? '').startsWith('/api/') ? crossSite(req.headers, [`http://${LOOPBACK}:${bound}`, `http://localhost:${bound}`]) : undefined;
      if (foreign !== undefined) throw new HttpError(403, `cross-site API request refused (${foreign}); open the explorer's own page`);
      const out = route(req, data, pages, latents);
      if ('compute' in out) {
        queue.run(out.key, out.compute).then(
          (a) => send(res, 200, a, head),
          (e: unknown) => fail(res, e, head),
        );
      } else send(res, 200, out, head);
    } catch (e) {
      fail(res, e, head);
    }
  });
  try {
    bound = await listen(server, port);
  } catch (e) {
    data.dispose();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    url: `http://${LOOPBACK}:${bound}/`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }).finally(() => data.dispose());
      return closing;
    },
  };
}
