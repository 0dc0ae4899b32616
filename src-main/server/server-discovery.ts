/**
 * How a CLI command finds a server already running on the same data home: the server
 * writes runtime/server.json (pid and URL, never the token) and removes it on exit.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isRunnerAlive } from '../platform/runner-liveness';
import { hostname } from 'node:os';

export type ServerRecord = { pid: number; url: string; tokenRequired: boolean };

const FILE = 'server.json';

export function writeServerRecord(runtimeDir: string, record: ServerRecord): () => void {
  const file = path.join(runtimeDir, FILE);
  writeFileSync(file, JSON.stringify(record));
  return () => {
    try {
      const current = JSON.parse(readFileSync(file, 'utf8')) as ServerRecord;
      if (current.pid === record.pid) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
}

/** The live server on this data home, or null (a stale record of a dead process is ignored). */
export function readServerRecord(runtimeDir: string): ServerRecord | null {
  try {
    const record = JSON.parse(readFileSync(path.join(runtimeDir, FILE), 'utf8')) as ServerRecord;
    if (typeof record.pid !== 'number' || typeof record.url !== 'string') return null;
    return isRunnerAlive(`${record.pid}@${hostname()}`) ? record : null;
  } catch {
    return null;
  }
}
