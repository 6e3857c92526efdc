/**
 * steer/results.json (src/steer/results.ts): the schema accepts a valid file and rejects bad ones with a
 * UserError naming the file and the first bad key path; topGainClasses ranks per-class gains at
 * alpha 1.2 vs 0; the CSV has one row per (strategy, alpha, class or 'all'); alpha grid parsing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UserError } from '../../src/errors.js';
import { parseAlphaGrid, resultsToCsv, topGainClasses, validateResults, type SteerResults, type Strategy, type Sweep } from '../../src/steer/results.js';

const NAMES = ['bowl', 'plate, flat', 'beaver'];

function sweep(strategy: Strategy, alpha: number, accs: number[]): Sweep {
  return {
    strategy,
    alpha,
    accuracy: accs.reduce((s, a) => s + a, 0) / accs.length,
    headUsage: 0.7,
    heads: [1, 0.5, 0.6, 0.7],
    perClass: accs.map((accuracy, c) => ({ class: c, name: NAMES[c]!, accuracy, headUsage: 0.5 + 0.1 * c, heads: [alpha > 0 ? 0 : 1, 0.5, 0.5, 0.5] })),
  };
}

function validFile(): SteerResults & { meta: { dataset: string } } {
  const sweeps = [
    sweep('per-class', 0, [0.76, 0.8, 0.9]),
    sweep('per-class', 1.2, [0.82, 0.8, 0.85]),
    sweep('global', 0, [0.7, 0.7, 0.7]),
    sweep('global', 1.2, [0.6, 0.6, 0.6]),
  ];
  return {
    baseline: { accuracy: 0.9, headUsage: 0.7 },
    reconstruction: { accuracy: 0.89, headUsage: 0.72 },
    sweeps,
    overlap: {
      globalVsPerClass: 0.1641,
      classPairs: [
        [1, 0.38, 0],
        [0.38, 1, 0],
        [0, 0, 1],
      ],
    },
    topGainClasses: topGainClasses(sweeps),
    meta: { dataset: 'fashion-mnist' }, // extra keys welcome at the top level
  };
}

function rejects(raw: unknown, pattern: RegExp): void {
  assert.throws(
    () => validateResults(raw, 'run/steer/results.json'),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
      assert.match(e.message, /^run\/steer\/results\.json: /);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes('\n'), 'one line');
      return true;
    },
  );
}

test('validateResults accepts a valid file (extra top-level keys kept)', () => {
  const r = validateResults(JSON.parse(JSON.stringify(validFile())) as unknown, 'results.json');
  assert.equal(r.sweeps.length, 4);
  assert.equal(r.topGainClasses[0]!.name, 'bowl');
  assert.deepEqual((r as Record<string, unknown>)['meta'], { dataset: 'fashion-mnist' });
});

test('validateResults rejects bad files, naming the first bad path', () => {
  /** A valid file after `edit`; the casts to plain records let an edit break the types on purpose. */
  const bad = (edit: (f: SteerResults) => void): unknown => {
    const f = structuredClone(validFile());
    edit(f);
    return f;
  };
  const loose = (o: object): Record<string, unknown> => o as Record<string, unknown>;
  rejects(
    bad((f) => (f.sweeps[1]!.perClass[2]!.accuracy = 1.5)),
    /sweeps\.1\.perClass\.2\.accuracy: /,
  );
  rejects(
    bad((f) => (loose(f.sweeps[0]!)['strategy'] = 'oracle')),
    /sweeps\.0\.strategy: /,
  );
  rejects(
    bad((f) => (loose(f.sweeps[0]!)['acuracy'] = 0.5)),
    /sweeps\.0: unknown key\(s\) 'acuracy'/,
  );
  rejects(
    bad((f) => delete loose(f.baseline)['headUsage']),
    /baseline\.headUsage: /,
  );
  rejects(
    bad((f) => (f.sweeps[3]!.perClass[1]!.heads = [0.1, 0.2])),
    /sweeps\.3\.perClass\.1\.heads: expected 4 per-head rates/,
  );
  rejects(
    bad((f) => (f.overlap.classPairs[2] = [0, 1])),
    /overlap\.classPairs\.2: expected 3 values/,
  );
  rejects(
    bad((f) => (loose(f.topGainClasses[0]!)['gain'] = 'big')),
    /topGainClasses\.0\.gain: /,
  );
  rejects([], /\(root\): /);
});

test('topGainClasses: largest per-class gain at alpha 1.2 vs 0 first, ties to the lower class; missing sweep is a UserError', () => {
  const sweeps = [sweep('per-class', 0, [0.76, 0.5, 0.9]), sweep('per-class', 1.2, [0.82, 0.56, 0.85]), sweep('global', 1.2, [1, 1, 1])];
  const top = topGainClasses(sweeps, 1.2, 2);
  assert.deepEqual(
    top.map((t) => t.class),
    [0, 1],
  );
  assert.ok(Math.abs(top[0]!.gain - 0.06) < 1e-12);
  assert.equal(top[0]!.accuracyBefore, 0.76);
  assert.equal(top[0]!.accuracyAfter, 0.82);
  assert.deepEqual(top[0]!.headsBefore, [1, 0.5, 0.5, 0.5]);
  assert.deepEqual(top[0]!.headsAfter, [0, 0.5, 0.5, 0.5]);
  assert.equal(topGainClasses(sweeps).length, 3);
  assert.throws(
    () => topGainClasses(sweeps, 1.5),
    (e: unknown) => e instanceof UserError && /alpha = 1\.5; the alpha grid has 0, 1\.2/.test(e.message),
  );
});

test('resultsToCsv: header + one row per (strategy, alpha, class or all), head columns, quoted names', () => {
  const csv = resultsToCsv(validateResults(validFile(), 'results.json'));
  const lines = csv.trimEnd().split('\n');
  assert.equal(lines.length, 1 + 4 * (1 + 3));
  assert.equal(lines[0], 'strategy,alpha,class,name,accuracy,headUsage,head_0,head_1,head_2,head_3');
  assert.equal(lines[1], `per-class,0,all,all,${(0.76 + 0.8 + 0.9) / 3},0.7,1,0.5,0.6,0.7`);
  assert.equal(lines[3], 'per-class,0,1,"plate, flat",0.8,0.6,1,0.5,0.5,0.5');
  const noHeads = resultsToCsv({ sweeps: [{ ...sweep('random', 0.5, [0.5]), heads: undefined } as unknown as Sweep] });
  assert.equal(noHeads.split('\n')[1], 'random,0.5,all,all,0.5,0.7,,,,');
});

test('parseAlphaGrid: range inclusive of both ends with clean decimals, lists, 0 added to a spanning range', () => {
  const g = parseAlphaGrid('-1:1.5:0.1');
  assert.equal(g.length, 26);
  assert.equal(g[0], -1);
  assert.equal(g[25], 1.5);
  assert.ok(g.includes(0) && g.includes(0.3) && g.includes(1.2));
  assert.ok(!Object.is(g[10], -0));
  for (const v of g) assert.equal(v, Number(v.toFixed(1)), `${v} is not a clean decimal`);
  assert.deepEqual(parseAlphaGrid('0,0.5,1.2'), [0, 0.5, 1.2]);
  assert.deepEqual(parseAlphaGrid(' 1.2, 0 ,0.5,0.5 '), [0, 0.5, 1.2]);
  assert.deepEqual(parseAlphaGrid('0:1.5:0.3'), [0, 0.3, 0.6, 0.9, 1.2, 1.5]);
  assert.deepEqual(parseAlphaGrid('-0.5:1.5:0.4'), [-0.5, -0.1, 0, 0.3, 0.7, 1.1, 1.5]);
  assert.deepEqual(parseAlphaGrid('1.2'), [1.2]);
  assert.deepEqual(parseAlphaGrid('0:0:0.1'), [0]);
});

test('parseAlphaGrid: UserError for empty or non-numeric grids, naming the bad token', () => {
  const bad = (spec: string, pattern: RegExp): void => {
    assert.throws(
      () => parseAlphaGrid(spec),
      (e: unknown) => e instanceof UserError && pattern.test(e.message),
    );
  };
  bad('', /alpha grid is empty/);
  bad('   ', /alpha grid is empty/);
  bad(',', /'' is not a number/);
  bad('0,abc,1', /'abc' is not a number/);
  bad('0:1.5:x', /'x' is not a number/);
  bad('0x10', /'0x10' is not a number/);
  bad('Infinity', /'Infinity' is not a number/);
  bad('0:1', /exactly start:end:step, got 2 part/);
  bad('0:1:0', /step '0' must be > 0/);
  bad('1:0:0.1', /start 1 is above end 0/);
  bad('0:1:0.3', /does not reach end 1/);
  bad('0:1:1e-9', /at most 10000 allowed/);
});
