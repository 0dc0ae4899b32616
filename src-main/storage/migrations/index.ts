import { migration0001 } from './0001-initial';
import type { Migration } from './types';

export type { Migration } from './types';

/** Every migration, in order. The last one's version is the schema this build writes. */
export const MIGRATIONS: readonly Migration[] = [migration0001];
