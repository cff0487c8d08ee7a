/** A process's resident memory, read from /proc (Linux), for the tests that bound it. */
import fs from 'node:fs/promises';

export function rssOf(pid: number): Promise<number> {
  return fs.readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+) kB/.exec(s)![1]) * 1024);
}

/** Samples the RSS of `pid` until stopped; returns the peak. */
export function sampleRss(pid: number, everyMs = 50): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await rssOf(pid).catch(() => 0));
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** Runs `work` while sampling the RSS of `pid`; the peak seen, before, during and after. */
export async function peakDuring(pid: number, work: () => Promise<unknown>): Promise<number> {
  const before = await rssOf(pid);
  const sampler = sampleRss(pid, 20);
  let peak = 0;
  try {
    await work();
  } finally {
    peak = await sampler.stop();
  }
  return Math.max(before, peak, await rssOf(pid));
}
