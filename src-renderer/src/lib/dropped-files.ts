/**
 * Files from a browser drop, folders included. `DataTransfer.files` lists a dropped folder as
 * one unreadable entry, so folders are walked through the File System entries API instead.
 * The entries must be taken synchronously inside the drop handler; the walk itself is async.
 */

/** Hidden files inside dropped folders (.DS_Store, ._foo) are noise, not photos. */
function isHidden(name: string): boolean {
  return name.startsWith('.');
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

// readEntries answers in batches (about 100 at a time) until it answers an empty one.
async function childrenOf(directory: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = directory.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) => reader.readEntries(resolve, reject));
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

async function walk(entry: FileSystemEntry, out: File[]): Promise<void> {
  if (entry.isFile) {
    out.push(await fileOf(entry as FileSystemFileEntry));
  } else if (entry.isDirectory) {
    for (const child of await childrenOf(entry as FileSystemDirectoryEntry)) {
      if (!isHidden(child.name)) await walk(child, out);
    }
  }
}

/**
 * Starts collecting the files of a drop. Call it synchronously in the `drop` handler; the
 * returned promise resolves to every file, with dropped folders expanded recursively.
 */
export function collectDroppedFiles(transfer: DataTransfer): Promise<File[]> {
  const entries: FileSystemEntry[] = [];
  for (const item of Array.from(transfer.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry();
    if (entry) entries.push(entry);
  }
  const plain = Array.from(transfer.files);
  if (entries.length === 0) return Promise.resolve(plain);
  return (async () => {
    const out: File[] = [];
    for (const entry of entries) await walk(entry, out);
    return out;
  })();
}
