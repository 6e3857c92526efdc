/**
 * The memory of a process and all its descendants at one moment, sampled: what a machine must hold while
 * a job forks replicas. Each process's own peak (`process.resourceUsage().maxRSS`) cannot give it, since
 * peaks of processes that never run together would add up. Linux only: reads /proc/<pid>/status.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Every live process's parent and resident set in kB, by pid (processes that vanish mid-scan are skipped). */
function processTable(): Map<number, { ppid: number; rssKb: number }> {
  const table = new Map<number, { ppid: number; rssKb: number }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${name}/status`, 'utf8');
    } catch {
      continue;
    }
    const ppid = /^PPid:\s+(\d+)/m.exec(status);
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status); // absent for kernel threads and zombies
    table.set(Number(name), { ppid: ppid === null ? 0 : Number(ppid[1]), rssKb: rss === null ? 0 : Number(rss[1]) });
  }
  return table;
}

/** The summed RSS in kB of `root` and every process descended from it, now. */
export function treeRssKb(root: number): number {
  const table = processTable();
  const children = new Map<number, number[]>();
  for (const [pid, p] of table) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
  let sum = 0;
  const todo = [root];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    sum += table.get(pid)?.rssKb ?? 0;
    todo.push(...(children.get(pid) ?? []));
  }
  return sum;
}

/** Sample `treeRssKb(root)` every `everyMs` until `stop()`, which returns the largest sum seen, in MB. */
export function sampleTreeRss(root: number, everyMs: number): { stop(): number } {
  let peakKb = 0;
  const sample = (): void => {
    peakKb = Math.max(peakKb, treeRssKb(root));
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return {
    stop(): number {
      clearInterval(timer);
      return peakKb / 1024;
    },
  };
}
