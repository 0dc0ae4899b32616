/**
 * Turning a picked or dropped image file into an inline init image (a base64 data URL). The
 * file's own bytes are sent when they fit, so the core sees exactly what the user chose;
 * other formats, and files over the transport's limit, are re-encoded through a canvas.
 */
import { PinholeError } from '../../../../src-shared/errors';
import type { InitImage } from './form-model';

/** Formats the contract takes inline. */
const INLINE = /^data:image\/(png|jpeg|webp);base64,/;

function readAsDataUrl(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () =>
      typeof reader.result === 'string' ? resolve(reader.result) : reject(new Error('The file could not be read'));
    reader.onerror = () => reject(reader.error ?? new Error('The file could not be read'));
    reader.readAsDataURL(file);
  });
}

/** Decodes an image URL; resolves to the element (its natural size known). */
export async function decodeImage(src: string): Promise<HTMLImageElement> {
  const image = new Image();
  image.src = src;
  await image.decode();
  return image;
}

function encode(image: HTMLImageElement, width: number, height: number, type: string, quality?: number): string {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext('2d');
  if (!context) throw new PinholeError('INTERNAL', 'This browser cannot draw on a canvas');
  context.drawImage(image, 0, 0, width, height);
  return canvas.toDataURL(type, quality);
}

/**
 * Reads an image file for img2img. `budget` is the largest data URL (in characters) the
 * transport takes with room to spare; bigger images are scaled down until they fit.
 */
export async function readInitImage(file: File, budget: number): Promise<InitImage> {
  if (file.type !== '' && !file.type.startsWith('image/')) {
    throw new PinholeError('INVALID_PARAMS', `${file.name} is not an image.`);
  }
  const original = await readAsDataUrl(file);
  let image: HTMLImageElement;
  try {
    image = await decodeImage(original);
  } catch {
    throw new PinholeError('INVALID_PARAMS', `${file.name} cannot be opened as an image.`);
  }
  const width = image.naturalWidth;
  const height = image.naturalHeight;
  if (INLINE.test(original) && original.length <= budget) {
    return { ref: { dataUrl: original }, name: file.name, src: original, width, height, resizedFrom: null };
  }
  // Re-encode: PNG at full size first (other formats), then smaller JPEGs until it fits.
  let scale = 1;
  let dataUrl = encode(image, width, height, 'image/png');
  while (dataUrl.length > budget) {
    scale *= dataUrl.length > budget * 4 ? 0.5 : 0.8;
    const w = Math.max(8, Math.round(width * scale));
    const h = Math.max(8, Math.round(height * scale));
    dataUrl = encode(image, w, h, 'image/jpeg', 0.92);
    if (w === 8 && h === 8) break;
  }
  const resized = await decodeImage(dataUrl);
  return {
    ref: { dataUrl },
    name: file.name,
    src: dataUrl,
    width: resized.naturalWidth,
    height: resized.naturalHeight,
    resizedFrom: scale === 1 ? null : { width, height },
  };
}
