/** What /proc says about a benchmarked process: its memory and CPU time, and the child a supervisor (leash) started. */
import { readdirSync, readFileSync } from 'node:fs';

export interface MemoryStatus {
  /** Resident set size now, bytes. */
  rssBytes: number;
  /** Peak resident set size (high-water mark), bytes. */
  hwmBytes: number;
}

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ: 100 on every Linux the bench runs on). */
const USER_HZ = 100;

/** The fields of /proc/<pid>/stat after `comm`, which may hold spaces and parentheses: split after the last ')'. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** PID of the first process whose parent is `parentPid`. */
export function childPid(parentPid: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(readFileSync(`/proc/${entry}/stat`, 'utf8'))[1]) === parentPid) return Number(entry);
    } catch {
      // the process vanished while scanning
    }
  }
  throw new Error(`no child of pid ${parentPid} found`);
}

/** VmRSS and VmHWM of /proc/<pid>/status text. */
export function parseMemoryStatus(status: string): MemoryStatus {
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM') };
}

/** User plus system CPU seconds of /proc/<pid>/stat text. */
export function parseCpuSeconds(stat: string): number {
  const f = statFields(stat);
  // After `comm`: state(0) ppid(1) … utime(11) stime(12).
  return (Number(f[11]) + Number(f[12])) / USER_HZ;
}

export function memoryOf(pid: number): MemoryStatus {
  return parseMemoryStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

export function cpuSecondsOf(pid: number): number {
  return parseCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}
