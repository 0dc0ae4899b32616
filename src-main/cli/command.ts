import type { Output } from './output';

/** What every command gets: where the data home is, how to print, and where the build lives. */
export type CommandContext = {
  dataDir: string;
  version: string;
  out: Output;
  /** The built renderer folder (dist/renderer). */
  rendererDir: string;
};
