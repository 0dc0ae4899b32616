import { hostname } from 'node:os';

/**
 * Whether the process that claimed a job ("pid@host") still runs. A runner on another
 * host (a data home on a network drive) is assumed alive: we cannot check it.
 */
export function isRunnerAlive(runner: string | null): boolean {
  if (!runner) return false;
  const [pidText, host] = runner.split('@');
  if (host !== hostname()) return true;
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
