/**
 * What `--model` names: an existing file or folder (made absolute, since the core may run in
 * another process with another working folder), or else a models library name, passed on as
 * given for the core to resolve.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export type ModelArgument = { kind: 'path'; path: string } | { kind: 'name'; name: string };

export function modelArgument(arg: string): ModelArgument {
  const resolved = path.resolve(arg);
  return existsSync(resolved) ? { kind: 'path', path: resolved } : { kind: 'name', name: arg };
}
