import type { ImageRef } from '../../../../src-shared/api/schemas';

/**
 * The content hash of an init image or mask the core stored for re-runs (`<data home>/inputs/ab/<sha256>`), or
 * null for any other reference (a file the user named on the command line is not served to the browser).
 */
export function storedInputSha(ref: ImageRef | undefined): string | null {
  if (!ref || !('path' in ref)) return null;
  const match = /[\\/]inputs[\\/]([0-9a-f]{2})[\\/]([0-9a-f]{64})$/.exec(ref.path);
  return match && match[2]!.startsWith(match[1]!) ? match[2]! : null;
}
