/**
 * Preloaded into the main job's process by the `pipeline` bench item (`node --import`): at exit, writes
 * the process's `process.resourceUsage()` (CPU time, peak RSS, context switches; all of its threads) as
 * JSON to the file named by HEADSTEER_BENCH_RUSAGE. Node gives a parent no resource usage of its children.
 */
import { writeFileSync } from 'node:fs';

const out = process.env['HEADSTEER_BENCH_RUSAGE'];
if (out !== undefined) process.on('exit', () => writeFileSync(out, JSON.stringify(process.resourceUsage())));
