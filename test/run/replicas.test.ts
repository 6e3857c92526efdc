/** The replicas' exchange: every replica gets the same mean, bit for bit, step after step, and gathers every replica's vector. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GradientExchange } from '../../src/run/replicas.js';

/**
 * `count` exchanges in one folder, with this process as their coordinator (each announce counted; the
 * last of a step calls every exchange's `allWritten`, as the coordinator's 'reduced' does); `body`
 * runs with them, then they close and the folder goes.
 */
async function withExchanges(count: number, body: (exchanges: GradientExchange[]) => Promise<void>): Promise<void> {
  const folder = mkdtempSync(join(tmpdir(), 'headsteer-exchange-'));
  let announced = 0;
  const exchanges: GradientExchange[] = [];
  const announce = (): void => {
    announced += 1;
    if (announced < count) return;
    announced = 0;
    for (const e of exchanges) e.allWritten();
  };
  for (let i = 0; i < count; i++) exchanges.push(new GradientExchange(folder, i, count, announce));
  try {
    await body(exchanges);
  } finally {
    for (const e of exchanges) e.close();
    rmSync(folder, { recursive: true, force: true });
  }
}

test('3 replicas exchanging 3 vectors each get the float32 sum in replica order divided by 3', async () => {
  const count = 3;
  await withExchanges(count, async (exchanges) => {
    // Two steps of one length, then a shorter vector (as the shared evaluation sends between steps).
    for (const [step, n] of [
      [0, 1001],
      [1, 1001],
      [2, 70],
    ] as const) {
      const values = exchanges.map((_, i) => Float32Array.from({ length: n }, (_, j) => Math.sin(j * 0.37 + i * 1.9 + step) * 10 ** (j % 7)));
      const expected = new Float32Array(n);
      for (let j = 0; j < expected.length; j++) expected[j] = Math.fround(Math.fround(Math.fround(values[0]![j]! + values[1]![j]!) + values[2]![j]!) / count);
      const means = await Promise.all(exchanges.map((e, i) => e.mean(values[i]!).then((m) => m.slice())));
      for (const m of means) assert.deepEqual(m, expected, `step ${step}`);
    }
  });
});

test("3 replicas gathering vectors of different lengths each get every replica's, after a longer mean in the same files", async () => {
  await withExchanges(3, async (exchanges) => {
    // Steps 0 and 1 fill both parities' files with 1001 floats; the gathers then write fewer.
    for (let step = 0; step < 2; step++) await Promise.all(exchanges.map((e) => e.mean(new Float32Array(1001).fill(step + 1))));
    for (const lengths of [
      [5, 0, 7],
      [3, 3, 1],
    ]) {
      const values = lengths.map((n, i) => Float32Array.from({ length: n }, (_, j) => i * 100 + j + 0.5));
      const gathered = await Promise.all(exchanges.map((e, i) => e.gather(values[i]!)));
      for (const g of gathered) assert.deepEqual(g, values, `lengths ${lengths.join(', ')}`);
    }
  });
});
