/**
 * Files dropped on the window, whatever the page. Precedence, most specific first:
 * 1. A drop zone under the pointer takes what it accepts — the Train page's dataset zone takes photos,
 *    captions and folders; the Generate page's image-to-image area takes an image. Those zones leave
 *    model files alone.
 * 2. Model files (.safetensors, .ckpt, .pt, .bin, .pth) go to the models library, from any page and
 *    any spot, including a mixed drop on one of those zones.
 * 3. On the Models page the whole window is the models' drop target: every dropped file is imported,
 *    and one that is not a model is rejected with its reason, as the picker's would be.
 * A drop nothing took says so, instead of the browser opening the file and leaving the studio.
 * The listeners sit on `window` in the bubble phase, after React's (on the root element): a drop zone
 * that took the drop has called `preventDefault` by then.
 */
import { useEffect, useRef, useState } from 'react';
import { ModelImportStatus, useImportModelFiles } from '../features/models';
import { carriesFiles, isModelFile, MODEL_FILE_EXTENSIONS } from '../lib/model-files';
import { navigate, type PageId } from '../lib/router';

const MODEL_TYPES = MODEL_FILE_EXTENSIONS.join(', ');

/** What a drop does on each page, said while files are dragged over the window. */
function hint(page: PageId): string {
  switch (page) {
    case 'models':
      return 'Drop files anywhere to add them to your models library.';
    case 'train':
      return 'Model files go to your models library; photos go on a dataset’s drop zone.';
    case 'generate':
      return 'Model files go to your models library; an image goes on “Image to image”.';
    default:
      return `Drop model files (${MODEL_TYPES}) to add them to your models library.`;
  }
}

/** Props: the current page (it decides which dropped files are the models library's). */
export function WindowDrop({ page }: { page: PageId }) {
  const importModels = useImportModelFiles();
  const [dragging, setDragging] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  // A drop on this window started a model import: follow it here (the Models page shows it in full).
  const [following, setFollowing] = useState(false);
  // The listeners are added once; they read the current page and importer from here.
  const latest = useRef({ page, importModels });
  useEffect(() => {
    latest.current = { page, importModels };
  });

  useEffect(() => {
    // dragenter/dragleave fire for every element crossed; the window is left when they balance.
    let depth = 0;
    const onEnter = (e: DragEvent): void => {
      if (!carriesFiles(e.dataTransfer)) return;
      depth += 1;
      setDragging(true);
    };
    const onLeave = (e: DragEvent): void => {
      if (!carriesFiles(e.dataTransfer)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const onOver = (e: DragEvent): void => {
      if (!carriesFiles(e.dataTransfer)) return;
      // Without this the browser would not fire `drop`, and would open the file instead.
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    };
    const onDrop = (e: DragEvent): void => {
      if (!carriesFiles(e.dataTransfer)) return;
      depth = 0;
      setDragging(false);
      const takenByZone = e.defaultPrevented;
      e.preventDefault();
      const { page: current, importModels: start } = latest.current;
      const files = Array.from(e.dataTransfer?.files ?? []);
      const models = current === 'models' ? files : files.filter((f) => isModelFile(f.name));
      if (models.length > 0) {
        setNotice(null);
        setFollowing(current !== 'models');
        void start(models);
      } else if (!takenByZone && files.length > 0) {
        setNotice(`Nothing was added: only model files (${MODEL_TYPES}) can be dropped here.`);
      }
    };
    window.addEventListener('dragenter', onEnter);
    window.addEventListener('dragleave', onLeave);
    window.addEventListener('dragover', onOver);
    window.addEventListener('drop', onDrop);
    return () => {
      window.removeEventListener('dragenter', onEnter);
      window.removeEventListener('dragleave', onLeave);
      window.removeEventListener('dragover', onOver);
      window.removeEventListener('drop', onDrop);
    };
  }, []);

  const showStatus = notice !== null || (following && page !== 'models');
  return (
    <>
      {dragging && (
        <div className="window-drop-hint" data-testid="window-drop-hint">
          <span>{hint(page)}</span>
        </div>
      )}
      {showStatus && (
        <div className="window-drop-status" role="status" data-testid="window-drop-status">
          {notice ?? <ModelImportStatus />}
          {notice === null && (
            <button type="button" className="button button-small" onClick={() => navigate('models')}>
              Open Models
            </button>
          )}
          <button
            type="button"
            className="button button-small"
            aria-label="Dismiss"
            onClick={() => {
              setNotice(null);
              setFollowing(false);
            }}
          >
            ×
          </button>
        </div>
      )}
    </>
  );
}
