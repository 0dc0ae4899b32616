import { migration0001 } from './0001-initial';
import { migration0002 } from './0002-models';
import { migration0003 } from './0003-paused-jobs';
import { migration0004 } from './0004-model-prediction';
import { migration0005 } from './0005-trained-models';
import { migration0006 } from './0006-settings';
import type { Migration } from './types';

export type { Migration } from './types';

/** Every migration, in order. The last one's version is the schema this build writes. */
export const MIGRATIONS: readonly Migration[] = [
  migration0001,
  migration0002,
  migration0003,
  migration0004,
  migration0005,
  migration0006,
];
