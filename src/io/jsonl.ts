/** Line-delimited JSON logs (metrics.jsonl): append one record, or drop records past a resume point. */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from './atomic.js';

export function appendJsonLine(path: string, record: Record<string, unknown>): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, `${JSON.stringify(record)}\n`);
}

/** Keep only the records for which `keep` holds (e.g. steps up to the checkpoint a run resumes from). */
export function filterJsonLines(path: string, keep: (record: Record<string, unknown>) => boolean): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        return keep(JSON.parse(line) as Record<string, unknown>);
      } catch {
        return false; // a line cut short by a kill
      }
    });
  writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
}
