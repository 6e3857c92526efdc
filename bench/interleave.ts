/**
 * Interleaved rounds (docs/design.md "Engine", the bench): each round times headsteer and PyTorch once,
 * each in a fresh process, back to back, so a change in machine speed (another job starting, a thermal
 * step) hits both sides of a round alike and cancels in that round's ratio. The order alternates from
 * round to round (A B, B A, A B, ...), so neither side always runs second. The summary is the median of the
 * rounds' ratios, their spread (min and max), and each side's median throughput.
 */

/** One round: both sides' throughput (per second; higher is faster) and the 1-minute load average before it. */
export interface Round<A, B> {
  ours: A;
  torch: B;
  /** Whether headsteer ran first in this round. */
  oursFirst: boolean;
  loadAvg: number;
}

/** What a set of rounds comes to. Ratios are headsteer / PyTorch throughput (above 1: headsteer is faster). */
export interface RoundSummary {
  medianRatio: number;
  minRatio: number;
  maxRatio: number;
  oursMedianPerSec: number;
  torchMedianPerSec: number;
}

/** The median of `v` (the mean of the middle two for an even count). */
export function median(v: readonly number[]): number {
  if (v.length === 0) throw new Error('median of no values');
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Whether headsteer runs first in round `r` (0-based): rounds alternate, starting with headsteer. */
export function oursFirst(r: number): boolean {
  return r % 2 === 0;
}

/**
 * Run `rounds` rounds of `ours()` and `torch()` in alternating order.
 * @param loadAvg the load average read before each round.
 */
export function interleave<A, B>(rounds: number, ours: () => A, torch: () => B, loadAvg: () => number): Round<A, B>[] {
  const out: Round<A, B>[] = [];
  for (let r = 0; r < rounds; r++) {
    const load = loadAvg();
    const first = oursFirst(r);
    let a: A;
    let b: B;
    if (first) {
      a = ours();
      b = torch();
    } else {
      b = torch();
      a = ours();
    }
    out.push({ ours: a, torch: b, oursFirst: first, loadAvg: load });
  }
  return out;
}

/** Median ratio, its spread over the rounds, and each side's median throughput, from per-round throughputs. */
export function summarize(rounds: readonly { ours: number; torch: number }[]): RoundSummary {
  const ratios = rounds.map((r) => r.ours / r.torch);
  return {
    medianRatio: median(ratios),
    minRatio: Math.min(...ratios),
    maxRatio: Math.max(...ratios),
    oursMedianPerSec: median(rounds.map((r) => r.ours)),
    torchMedianPerSec: median(rounds.map((r) => r.torch)),
  };
}
