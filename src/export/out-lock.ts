// The lock of an output folder: a file beside it that names the process writing it, taken over only when that
// process is gone.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { ConfigError } from '../errors.js';

interface Lock {
  pid: number;
  host: string;
  started: string;
  command: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the lock by creating its file; a lock whose process is gone is taken over. */
export function takeLock(lockFile: string, target: string): void {
  const mine: Lock = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: process.argv.slice(2, 3).join(' '),
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, JSON.stringify(mine), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let holder: Partial<Lock> = {};
    try {
      holder = JSON.parse(readFileSync(lockFile, 'utf8'));
    } catch {
      // A lock being written this instant, or a torn one: treated as held unless its process is known gone.
    }
    const stale = typeof holder.pid === 'number' && holder.host === mine.host && !alive(holder.pid);
    if (!stale) {
      const who =
        typeof holder.pid === 'number'
          ? `pid ${holder.pid} on ${holder.host}, started ${holder.started}`
          : 'unknown process';
      throw new ConfigError(
        `--out ${target}: another evolq run (${who}) is writing it; wait for it to end, or delete ${lockFile} if no such run exists`,
        '--out',
      );
    }
    rmSync(lockFile, { force: true });
  }
  throw new ConfigError(`--out ${target}: cannot take the lock ${lockFile}`, '--out');
}
