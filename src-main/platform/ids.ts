import { randomBytes } from 'node:crypto';

/** Sortable, unique ids: 12 hex digits of milliseconds, then 8 random hex digits. */
export function newId(prefix: string): string {
  return `${prefix}_${Date.now().toString(16).padStart(12, '0')}${randomBytes(4).toString('hex')}`;
}
