/**
 * Turns the paths given to an import (files and folders) into the ordered list of files
 * it will process. The list is computed once and saved in the job checkpoint, so a re-run
 * after a crash walks exactly the same list, index for index.
 */
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';

/** One file of an import, or a path already known to be rejected. */
export type ImportEntry = {
  /** What results show: the path as given, or relative to its folder, or an upload's name. */
  file: string;
  /** Where the file was found (a link's own location), for its name and its sidecar. */
  path: string;
  /** The real file to read, when it differs from `path` (a followed link). */
  real?: string;
  /** Set when the entry is rejected without being read. */
  reason?: string;
};

export type ExpandOptions = {
  /** An upload batch folder: files inside it are shown by their own name only. */
  uploadRoot?: string | undefined;
};

/** Extensions walked in folders. Files given directly are tried whatever their name. */
const IMAGE_EXTENSIONS = new Set([
  '.jpg',
  '.jpeg',
  '.jpe',
  '.jfif',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.heic',
  '.heif',
  '.avif',
]);

// Natural order (img2 before img10), fixed locale so every machine lists the same order.
const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' });

/** Whether a folder walk imports a file of this name (sidecar .txt and the like are skipped). */
export function isImageName(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase());
}

/**
 * In an upload batch every file was picked by the user, so each gets a result line (a
 * non-image is rejected, not silently skipped); only caption sidecars are left out.
 */
function isUploadedImage(name: string): boolean {
  return path.extname(name).toLowerCase() !== '.txt';
}

/** Expands paths in the order given; folders recursively, sorted by name, hidden entries skipped. */
export async function expandPaths(paths: readonly string[], options: ExpandOptions = {}): Promise<ImportEntry[]> {
  const uploadRoot = options.uploadRoot ? path.resolve(options.uploadRoot) : null;
  // Uploads are stored under generated folder names; users know them by their file name.
  const show = (absolute: string, shown: string) =>
    uploadRoot && isInside(uploadRoot, absolute) ? path.basename(absolute) : shown;
  const entries: ImportEntry[] = [];
  for (const given of paths) {
    const absolute = path.resolve(given);
    const info = await stat(absolute).catch((error: unknown) => error as NodeJS.ErrnoException);
    if (info instanceof Error) entries.push({ file: show(absolute, given), path: absolute, reason: fsReason(info) });
    else if (info.isDirectory()) {
      const wanted = uploadRoot && isInside(uploadRoot, absolute) ? isUploadedImage : isImageName;
      entries.push(...(await walkFolder(absolute, show, wanted)));
    } else entries.push({ file: show(absolute, given), path: absolute });
  }
  return entries;
}

/**
 * Walks one import folder; files are shown relative to it. Links are resolved: one whose
 * target lies outside the folder is rejected (importing ~/Pictures/rex must not pull in
 * /etc through a link), and a folder reached twice is walked once (a link back to an
 * ancestor is reported as a loop).
 */
async function walkFolder(
  root: string,
  show: (absolute: string, shown: string) => string,
  wanted: (name: string) => boolean,
): Promise<ImportEntry[]> {
  const entries: ImportEntry[] = [];
  const rootReal = await realpath(root);
  const visited = new Set<string>([rootReal]);
  const add = (logical: string, extra: { real?: string; reason?: string } = {}) =>
    entries.push({
      file: show(logical, path.relative(root, logical).split(path.sep).join('/')),
      path: logical,
      ...extra,
    });

  const visit = async (dir: string, dirReal: string, ancestors: readonly string[]): Promise<void> => {
    let children: Dirent[];
    try {
      children = await readdir(dirReal, { withFileTypes: true });
    } catch (error) {
      add(dir, { reason: `cannot read the folder (${fsReason(error)})` });
      return;
    }
    children.sort((a, b) => collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const child of children) {
      if (child.name.startsWith('.')) continue;
      const logical = path.join(dir, child.name);
      const actual = path.join(dirReal, child.name);
      if (child.isDirectory()) {
        if (visited.has(actual)) continue; // already walked through a link to it
        visited.add(actual);
        await visit(logical, actual, [...ancestors, actual]);
      } else if (child.isFile()) {
        if (wanted(child.name)) add(logical);
      } else if (child.isSymbolicLink()) {
        let target: string;
        try {
          target = await realpath(actual);
        } catch (error) {
          // A dangling link is only worth a line when it looks like an image; a loop always is.
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ELOOP' || wanted(child.name)) add(logical, { reason: fsReason(error) });
          continue;
        }
        const targetInfo = await stat(target).catch(() => null);
        if (!targetInfo || (!targetInfo.isDirectory() && !wanted(child.name))) continue;
        if (!isInside(rootReal, target)) {
          add(logical, { reason: 'link points outside the import folder' });
        } else if (!targetInfo.isDirectory()) {
          add(logical, { real: target });
        } else if (ancestors.includes(target)) {
          add(logical, { reason: 'link forms a loop' });
        } else if (!visited.has(target)) {
          visited.add(target);
          await visit(logical, target, [...ancestors, target]);
        }
        // Else: a folder already walked by another path; its files are listed once already.
      }
    }
  };
  await visit(root, rootReal, [rootReal]);
  return entries;
}

/** Whether `child` is `parent` or lies under it. */
export function isInside(parent: string, child: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (relative !== '..' && !relative.startsWith('..' + path.sep) && !path.isAbsolute(relative));
}

function fsReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'not found';
  if (code === 'ELOOP') return 'link forms a loop';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return `cannot read (${code ?? String(error)})`;
}
