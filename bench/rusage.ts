/**
 * Preloaded into the main job's process by the `pipeline` bench item (`node --import`), and so into the
 * replicas it forks for training, extraction and steering (fork passes on `--import`): at exit, each
 * process writes its `process.resourceUsage()` (CPU time, peak RSS, context switches; all of its
 * threads) as JSON to `<pid>.json` in the folder named by HEADSTEER_BENCH_RUSAGE. Node gives a parent
 * no resource usage of its children, so the item adds them up (pipeline.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const folder = process.env['HEADSTEER_BENCH_RUSAGE'];
if (folder !== undefined) process.on('exit', () => writeFileSync(join(folder, `${process.pid}.json`), JSON.stringify(process.resourceUsage())));
