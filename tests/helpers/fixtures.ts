import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** The third-party fixtures: `$PINHOLE_FIXTURES`, else `shared/fixtures` inside or beside the checkout. */
export const FIXTURES = (() => {
  const found = [
    process.env['PINHOLE_FIXTURES'],
    path.join(REPO, 'shared/fixtures'),
    path.join(REPO, '../shared/fixtures'),
  ].find((dir): dir is string => dir !== undefined && existsSync(path.join(dir, 'README.md')));
  if (!found) throw new Error('shared/fixtures not found beside the checkout (set PINHOLE_FIXTURES)');
  return found;
})();

/** A path inside the fixtures. */
export const fixture = (...parts: string[]): string => path.join(FIXTURES, ...parts);
