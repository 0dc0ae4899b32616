/**
 * kohya-ss aspect-ratio buckets (`library/model_util.py` `make_bucket_resolutions`, `library/train_util.py`
 * `BucketManager.select_bucket` and `trim_and_resize_if_required`): bucket sides are multiples of 64 with
 * area ≤ resolution²; an image goes to the bucket whose aspect ratio is nearest its own (the first such
 * in sorted order), is resized to cover the bucket keeping its aspect ratio, and is center-cropped.
 *
 * kohya's bucket range defaults to 256…1024 px at 512 px; we scale it with the resolution:
 * min side = max(64, ⌊resolution/2⌋ rounded down to 64), max side = 2·resolution (256…1024 at 512).
 */
import { PinholeError } from '../../../src-shared/errors';

/** A bucket: width × height in pixels. */
export type Bucket = readonly [width: number, height: number];

const DIVISIBLE = 64;

/** kohya's `make_bucket_resolutions((res, res), min, max, 64)`: sorted by (width, height). */
export function makeBucketResolutions(resolution: number): Bucket[] {
  if (!Number.isInteger(resolution) || resolution < DIVISIBLE) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `aspect-ratio buckets need a resolution of at least 64 px, not ${resolution}`,
    );
  }
  const maxArea = resolution * resolution;
  const minSize = Math.max(DIVISIBLE, Math.floor(resolution / 2 / DIVISIBLE) * DIVISIBLE);
  const maxSize = 2 * resolution;
  const seen = new Set<string>();
  const out: Bucket[] = [];
  const add = (w: number, h: number) => {
    if (!seen.has(`${w}x${h}`)) {
      seen.add(`${w}x${h}`);
      out.push([w, h]);
    }
  };
  const square = Math.floor(Math.sqrt(maxArea) / DIVISIBLE) * DIVISIBLE;
  add(square, square);
  for (let width = minSize; width <= maxSize; width += DIVISIBLE) {
    const height = Math.min(maxSize, Math.floor(Math.floor(maxArea / width) / DIVISIBLE) * DIVISIBLE);
    if (height >= minSize) {
      add(width, height);
      add(height, width);
    }
  }
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

/** The bucket for an image: its own size if that is a bucket, else the nearest aspect ratio (first on ties). */
export function selectBucket(width: number, height: number, buckets: readonly Bucket[]): Bucket {
  const own = buckets.find(([w, h]) => w === width && h === height);
  if (own) return own;
  const ratio = width / height;
  let best = buckets[0]!;
  let bestErr = Infinity;
  for (const b of buckets) {
    const err = Math.abs(b[0] / b[1] - ratio);
    if (err < bestErr) {
      best = b;
      bestErr = err;
    }
  }
  return best;
}

/** How an image is fitted to its bucket: resized to `resized` (covering it), then cropped at (`left`, `top`). */
export type CoverCrop = { resized: Bucket; left: number; top: number };

/** kohya's resize-to-cover (sizes rounded half up) and center crop (offsets rounded down). */
export function coverCrop(width: number, height: number, bucket: Bucket): CoverCrop {
  const [bw, bh] = bucket;
  const scale = width / height > bw / bh ? bh / height : bw / width;
  const rw = Math.max(bw, Math.floor(width * scale + 0.5));
  const rh = Math.max(bh, Math.floor(height * scale + 0.5));
  return { resized: [rw, rh], left: Math.floor((rw - bw) / 2), top: Math.floor((rh - bh) / 2) };
}
