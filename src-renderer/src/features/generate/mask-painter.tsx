/**
 * The inpainting mask, painted with a brush over the init image. The canvas has the init
 * image's pixel size; painted pixels are opaque (shown tinted and half transparent over the
 * image), erased ones transparent. After every stroke the mask is exported as a black and
 * white PNG data URL (white = repaint) of that size.
 */
import { useEffect, useId, useRef, useState, type PointerEvent } from 'react';
import { setBrushSize, setMask, useGenerateStore } from './generate-store';
import { decodeImage } from './image-files';

type Props = { src: string; width: number; height: number };
type Point = { x: number; y: number };

/** The colour painted strokes show in (the canvas is drawn half transparent). */
const PAINT = '#ff5470';
/** Alpha from which a canvas pixel counts as painted. */
const PAINTED = 128;

/** The canvas as a black and white mask PNG, or null when nothing is painted. */
function exportMask(context: CanvasRenderingContext2D, width: number, height: number): string | null {
  const pixels = context.getImageData(0, 0, width, height);
  const out = new ImageData(width, height);
  let any = false;
  for (let i = 0; i < pixels.data.length; i += 4) {
    const value = pixels.data[i + 3]! >= PAINTED ? 255 : 0;
    any ||= value === 255;
    out.data[i] = value;
    out.data[i + 1] = value;
    out.data[i + 2] = value;
    out.data[i + 3] = 255;
  }
  if (!any) return null;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  canvas.getContext('2d')?.putImageData(out, 0, 0);
  return canvas.toDataURL('image/png');
}

/** Draws a stored black and white mask onto the (cleared) canvas as painted pixels. */
function importMask(context: CanvasRenderingContext2D, mask: HTMLImageElement, width: number, height: number): void {
  context.drawImage(mask, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height);
  for (let i = 0; i < pixels.data.length; i += 4) {
    // The mask's own luma decides, as the engine's does.
    const white = pixels.data[i]! * 0.299 + pixels.data[i + 1]! * 0.587 + pixels.data[i + 2]! * 0.114 >= 127.5;
    pixels.data[i] = 0xff;
    pixels.data[i + 1] = 0x54;
    pixels.data[i + 2] = 0x70;
    pixels.data[i + 3] = white ? 255 : 0;
  }
  context.putImageData(pixels, 0, 0);
}

/** The image with its mask canvas, the brush controls and Clear. */
export function MaskPainter({ src, width, height }: Props) {
  const brushId = useId();
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const last = useRef<Point | null>(null);
  const cursorRef = useRef<HTMLDivElement>(null);
  const brushSize = useGenerateStore((s) => s.brushSize);
  const hasMask = useGenerateStore((s) => s.mask !== null);
  const [erasing, setErasing] = useState(false);

  // A new image (or size) starts from the stored mask, else from an empty (black) one.
  useEffect(() => {
    const canvas = canvasRef.current;
    const context = canvas?.getContext('2d', { willReadFrequently: true });
    if (!canvas || !context) return;
    canvas.width = width;
    canvas.height = height;
    context.clearRect(0, 0, width, height);
    const stored = useGenerateStore.getState().mask;
    let stale = false;
    if (stored && 'dataUrl' in stored) {
      decodeImage(stored.dataUrl)
        .then((image) => !stale && importMask(context, image, width, height))
        .catch(() => setMask(null));
    }
    return () => {
      stale = true;
    };
  }, [src, width, height]);

  const context = (): CanvasRenderingContext2D | null =>
    canvasRef.current?.getContext('2d', { willReadFrequently: true }) ?? null;

  // Screen pixels → canvas pixels; the brush size is in screen pixels, so it scales too.
  const toCanvas = (event: PointerEvent<HTMLCanvasElement>): Point & { scale: number } => {
    const box = event.currentTarget.getBoundingClientRect();
    const scale = width / box.width;
    return { x: (event.clientX - box.left) * scale, y: (event.clientY - box.top) * (height / box.height), scale };
  };

  const prepare = (c: CanvasRenderingContext2D, scale: number): void => {
    c.globalCompositeOperation = erasing ? 'destination-out' : 'source-over';
    c.strokeStyle = PAINT;
    c.fillStyle = PAINT;
    c.lineWidth = brushSize * scale;
    c.lineCap = 'round';
    c.lineJoin = 'round';
  };

  const onPointerDown = (event: PointerEvent<HTMLCanvasElement>): void => {
    if (event.button !== 0) return;
    const c = context();
    if (!c) return;
    event.currentTarget.setPointerCapture(event.pointerId);
    const p = toCanvas(event);
    prepare(c, p.scale);
    c.beginPath();
    c.arc(p.x, p.y, (brushSize * p.scale) / 2, 0, Math.PI * 2);
    c.fill();
    last.current = p;
  };

  const onPointerMove = (event: PointerEvent<HTMLCanvasElement>): void => {
    const from = last.current;
    const c = context();
    if (!from || !c) return;
    const p = toCanvas(event);
    prepare(c, p.scale);
    c.beginPath();
    c.moveTo(from.x, from.y);
    c.lineTo(p.x, p.y);
    c.stroke();
    last.current = p;
  };

  const finish = (): void => {
    if (!last.current) return;
    last.current = null;
    const c = context();
    if (!c) return;
    const dataUrl = exportMask(c, width, height);
    setMask(dataUrl ? { dataUrl } : null);
  };

  const clear = (): void => {
    context()?.clearRect(0, 0, width, height);
    setMask(null);
  };

  // The brush outline follows the pointer (moved directly: no re-render per mouse move).
  const moveCursor = (event: PointerEvent<HTMLCanvasElement>): void => {
    const cursor = cursorRef.current;
    if (!cursor) return;
    const box = event.currentTarget.getBoundingClientRect();
    cursor.style.display = 'block';
    cursor.style.transform = `translate(${event.clientX - box.left - brushSize / 2}px, ${event.clientY - box.top - brushSize / 2}px)`;
  };
  const hideCursor = (): void => {
    if (cursorRef.current) cursorRef.current.style.display = 'none';
  };

  return (
    <div className="mask-painter">
      <div
        className={width < 384 ? 'mask-stage mask-small' : 'mask-stage'}
        style={{
          aspectRatio: `${width} / ${height}`,
          // At most 384 px wide and 512 px tall, keeping the image's shape.
          width: `min(100%, ${Math.round(Math.min(384, (512 * width) / height))}px)`,
        }}
      >
        <img src={src} alt="Init image" className="mask-image" draggable={false} data-testid="init-preview" />
        <canvas
          ref={canvasRef}
          className={erasing ? 'mask-canvas mask-erasing' : 'mask-canvas'}
          aria-label="Inpainting mask: paint where the image should be repainted"
          data-testid="mask-canvas"
          onPointerDown={onPointerDown}
          onPointerMove={(event) => {
            moveCursor(event);
            onPointerMove(event);
          }}
          onPointerLeave={hideCursor}
          onPointerUp={finish}
          onPointerCancel={finish}
          onLostPointerCapture={finish}
        />
        <div
          ref={cursorRef}
          className="mask-cursor"
          style={{ width: brushSize, height: brushSize }}
          aria-hidden="true"
        />
      </div>
      <div className="mask-tools">
        <span className="muted mask-hint" data-testid="mask-state" data-has-mask={hasMask}>
          {hasMask
            ? 'Inpainting: the tinted area is repainted, the rest is kept.'
            : 'Paint over the image to inpaint part of it.'}
        </span>
        <label htmlFor={brushId}>Brush</label>
        <input
          id={brushId}
          type="range"
          min={2}
          max={120}
          step={1}
          value={brushSize}
          onChange={(e) => setBrushSize(Number(e.target.value))}
          data-testid="mask-brush-size"
        />
        <span className="mask-brush-value">{brushSize}px</span>
        <button
          type="button"
          className={erasing ? 'button button-small chip-on' : 'button button-small'}
          aria-pressed={erasing}
          onClick={() => setErasing(!erasing)}
          data-testid="mask-erase"
        >
          Eraser
        </button>
        <button
          type="button"
          className="button button-small"
          onClick={clear}
          disabled={!hasMask}
          data-testid="mask-clear"
        >
          Clear mask
        </button>
      </div>
    </div>
  );
}
