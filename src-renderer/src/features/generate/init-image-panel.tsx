/**
 * img2img and inpainting: drop or pick a source image (sent inline as a data URL), set the
 * denoising strength, and optionally paint a mask over it.
 */
import { useEffect, useId, useRef, useState, type DragEvent } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { withoutModelFiles } from '../../lib/model-files';
import { useStudio } from '../../lib/studio-context';
import { setFormValues, setInitImage, setInitImageSize, setMask, useGenerateStore } from './generate-store';
import { decodeImage, readInitImage } from './image-files';
import { MaskPainter } from './mask-painter';

/**
 * The largest inline image (data URL characters) per transport, under the contract's 48 M
 * characters per image (the headless server takes JSON bodies up to 100 MB, room for the mask).
 */
const INLINE_BUDGET = { headless: 40_000_000, desktop: 40_000_000 } as const;

/** The init image section. */
export function InitImagePanel({ strengthError }: { strengthError: string | undefined }) {
  const studio = useStudio();
  const strengthId = useId();
  const input = useRef<HTMLInputElement>(null);
  const { initImage, mask, strength } = useGenerateStore(
    useShallow((s) => ({ initImage: s.initImage, mask: s.mask, strength: s.strength })),
  );
  const [dragging, setDragging] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  // An image from a stored request arrives without its size; the mask canvas needs it.
  const src = initImage?.src ?? null;
  const sized = initImage?.width !== null && initImage?.width !== undefined;
  useEffect(() => {
    if (!src || sized) return;
    decodeImage(src)
      .then((image) => setInitImageSize(src, image.naturalWidth, image.naturalHeight))
      .catch(() => setError('The init image cannot be shown.'));
  }, [src, sized]);

  const take = async (files: readonly File[]): Promise<void> => {
    const file = files[0];
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      setInitImage(await readInitImage(file, INLINE_BUDGET[studio.mode]));
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const onDrop = (event: DragEvent): void => {
    event.preventDefault();
    setDragging(false);
    // A model file in the drop goes to the models library (the window-wide drop, src/app); the image stays here.
    void take(withoutModelFiles(Array.from(event.dataTransfer.files)));
  };

  const picker = (
    <input
      ref={input}
      type="file"
      accept="image/png,image/jpeg,image/webp,image/*"
      hidden
      aria-label="Init image"
      data-testid="init-file-input"
      onChange={(e) => {
        const files = Array.from(e.currentTarget.files ?? []);
        e.currentTarget.value = '';
        void take(files);
      }}
    />
  );

  return (
    <section className="init-panel" aria-labelledby={`${strengthId}-title`}>
      <div className="field-head">
        <h2 id={`${strengthId}-title`} className="section-title">
          Image to image
        </h2>
        {initImage && (
          <div className="init-actions">
            <button
              type="button"
              className="button button-small"
              onClick={() => input.current?.click()}
              disabled={busy}
            >
              Replace…
            </button>
            <button
              type="button"
              className="button button-small button-danger"
              onClick={() => setInitImage(null)}
              data-testid="init-remove"
            >
              Remove
            </button>
          </div>
        )}
      </div>
      {picker}
      {!initImage ? (
        <div
          className={dragging ? 'init-drop dragging' : 'init-drop'}
          data-testid="init-drop"
          onDragEnter={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragOver={(e) => {
            e.preventDefault();
            e.dataTransfer.dropEffect = 'copy';
          }}
          onDragLeave={(e) => {
            if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
          }}
          onDrop={onDrop}
        >
          <p>Drop an image here to start from it (img2img), then paint a mask to inpaint part of it.</p>
          <button type="button" className="button" onClick={() => input.current?.click()} disabled={busy}>
            {busy ? 'Reading…' : 'Choose an image…'}
          </button>
        </div>
      ) : (
        <div className="init-body" data-testid="init-image" data-name={initImage.name}>
          <p className="muted init-name">
            {initImage.name}
            {initImage.width !== null && ` · ${initImage.width} × ${initImage.height}`}
            {initImage.resizedFrom &&
              ` (scaled down from ${initImage.resizedFrom.width} × ${initImage.resizedFrom.height} to fit the upload limit)`}
          </p>
          {initImage.src && initImage.width !== null && initImage.height !== null ? (
            <MaskPainter src={initImage.src} width={initImage.width} height={initImage.height} />
          ) : initImage.src === null ? (
            <div className="init-stored">
              <p>
                The image stored with the original request is used again
                {mask ? ', with its mask' : ''}. Choose an image to paint a new mask.
              </p>
              <p className="mono">{'path' in initImage.ref ? initImage.ref.path : ''}</p>
              {mask && (
                <button type="button" className="button button-small" onClick={() => setMask(null)}>
                  Drop the mask
                </button>
              )}
            </div>
          ) : (
            <p className="muted">Opening the image…</p>
          )}
          <div className="field strength-field">
            <label htmlFor={strengthId}>Denoising strength</label>
            <div className="strength-row">
              <input
                id={strengthId}
                type="range"
                min={0.01}
                max={1}
                step={0.01}
                value={strength}
                onChange={(e) => setFormValues({ strength: Number(e.target.value) })}
                aria-invalid={strengthError !== undefined}
                data-testid="field-strength"
              />
              <output htmlFor={strengthId} data-testid="strength-value">
                {strength.toFixed(2)}
              </output>
            </div>
            <p className="field-note">How much of the schedule runs: low keeps the image, 1 repaints it completely.</p>
            {strengthError && (
              <p className="field-error" role="alert" data-testid="error-strength">
                {strengthError}
              </p>
            )}
          </div>
        </div>
      )}
      <ErrorText message={error} testId="init-error" />
    </section>
  );
}
