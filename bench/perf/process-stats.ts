import { readFile } from 'node:fs/promises';

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU time (user + system, seconds) a process has used so far. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/**
 * CPU time (user + system, seconds) of this process's children that have ended and been waited for
 * (`cutime` + `cstime`): read before and after a load generator's run, the difference is what it used.
 */
export async function childCpuSeconds(): Promise<number> {
  const stat = await readFile('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLOCK_TICKS;
}

/** Peak resident memory of a process (VmHWM), in MB. */
export async function peakRssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Current resident memory (VmRSS), in MB. */
export async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** Measures `work` and the CPU a process spent meanwhile, as cores (1.0 = one core busy). */
export async function withCpu<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; cores: number }> {
  const [cpuBefore, started] = [await cpuSeconds(pid), performance.now()];
  const result = await work();
  const [cpuAfter, ended] = [await cpuSeconds(pid), performance.now()];
  return { result, cores: (cpuAfter - cpuBefore) / ((ended - started) / 1000) };
}
