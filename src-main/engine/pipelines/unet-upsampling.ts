import { open, type FileHandle } from 'node:fs/promises';
import { PinholeError } from '../../../src-shared/errors';
import { ProtoError, ProtoReader, WIRE_LEN } from '../graph';

/**
 * Which latent sizes a UNet export can run. diffusers' UNet upsamples each level back to the size of the skip
 * connection it is concatenated with (`forward_upsample_size` when a latent side is not divisible by
 * 2^(levels − 1)), and our builder always does; but `torch.onnx.export` traces the usual branch, a fixed
 * `F.interpolate(scale_factor=2)`, so a third-party export has `Resize` nodes with constant scales and fails
 * inside onnxruntime (a Concat shape mismatch) when a latent side does not halve evenly at every level. Counting
 * those nodes tells the pipeline, before it runs anything, which sizes work: latent sides that are multiples of
 * 2^count.
 *
 * Only the graph's nodes are read, from the file at their offsets: initializers (the weights, most of the file
 * when they are inline) are skipped over, so this costs a few reads even for a 1.7 GB UNet.
 */

/** Reads a file through one reusable window, so walking many small messages costs few reads. */
class Window {
  private start = 0;
  private buf = new Uint8Array(0);

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  /** `length` bytes at `pos` (a view into the window; valid until the next call). */
  async bytes(pos: number, length: number): Promise<Uint8Array> {
    if (pos < this.start || pos + length > this.start + this.buf.length) {
      const size = Math.min(Math.max(length, 1 << 20), this.size - pos);
      const buf = new Uint8Array(size);
      const { bytesRead } = await this.fh.read(buf, 0, size, pos);
      this.start = pos;
      this.buf = buf.subarray(0, bytesRead);
      if (bytesRead < length) throw new PinholeError('IMPORT_REJECTED', 'truncated ONNX file');
    }
    return this.buf.subarray(pos - this.start, pos - this.start + length);
  }
}

/** A field's header: its number, wire type, and where its value lies. */
interface FieldHeader {
  readonly field: number;
  readonly wire: number;
  /** The value's first byte (after the length for length-delimited fields). */
  readonly start: number;
  /** One past the value's last byte. */
  readonly end: number;
}

/** The header of the field at `pos` (at most 20 header bytes are read). */
async function header(win: Window, pos: number, limit: number): Promise<FieldHeader> {
  const head = new ProtoReader(await win.bytes(pos, Math.min(20, limit - pos)));
  const [field, wire] = head.tag();
  let start = pos + head.pos;
  if (wire === WIRE_LEN) {
    const length = head.uint();
    start = pos + head.pos;
    head.pos += length; // past the value, which is not in the 20 bytes read
  } else {
    head.skip(wire);
  }
  const end = pos + head.pos;
  if (end > limit) throw new PinholeError('IMPORT_REJECTED', 'malformed ONNX file: truncated protobuf message');
  return { field, wire, start, end };
}

/** Nodes bigger than this are constants holding tensors, never a Resize: skipped unread. */
const MAX_NODE_BYTES = 1 << 20;

/** A NodeProto's op type and inputs (`input` = field 1, `op_type` = field 4). */
function parseNode(buf: Uint8Array): { op: string; inputs: string[] } {
  const node = new ProtoReader(buf);
  const inputs: string[] = [];
  let op = '';
  while (!node.done) {
    const [field, wire] = node.tag();
    if (wire === WIRE_LEN && field === 1) inputs.push(node.string());
    else if (wire === WIRE_LEN && field === 4) op = node.string();
    else node.skip(wire);
  }
  return { op, inputs };
}

/**
 * The number of fixed-factor upsamplers in an ONNX UNet: `Resize` nodes fed constant-style `scales` without
 * `sizes`, and the old `Upsample` op. 0 for our builder's graphs, which resize to the skip connection's size.
 * @throws PinholeError `NOT_FOUND` when the file cannot be read, `IMPORT_REJECTED` when it is not protobuf.
 */
export async function countFixedUpsamplers(file: string): Promise<number> {
  let fh: FileHandle;
  try {
    fh = await open(file, 'r');
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `Cannot read ${file}`, { cause: error });
  }
  try {
    const win = new Window(fh, (await fh.stat()).size);
    let count = 0;
    for (let pos = 0; pos < win.size;) {
      const model = await header(win, pos, win.size);
      pos = model.end;
      // ModelProto.graph = 7; GraphProto.node = 1.
      if (model.field !== 7 || model.wire !== 2) continue;
      for (let g = model.start; g < model.end;) {
        const field = await header(win, g, model.end);
        g = field.end;
        if (field.field !== 1 || field.wire !== 2 || field.end - field.start > MAX_NODE_BYTES) continue;
        const node = parseNode(await win.bytes(field.start, field.end - field.start));
        const fixedResize = node.op === 'Resize' && (node.inputs[2] ?? '') !== '' && (node.inputs[3] ?? '') === '';
        if (fixedResize || node.op === 'Upsample') count++;
      }
    }
    return count;
  } catch (error) {
    if (error instanceof PinholeError)
      throw new PinholeError(error.code, `${file}: ${error.message}`, { cause: error });
    if (error instanceof ProtoError)
      throw new PinholeError('IMPORT_REJECTED', `${file}: malformed ONNX file: ${error.message}`, { cause: error });
    throw error;
  } finally {
    await fh.close();
  }
}

/**
 * The error for an image size a UNet with `fixedUpsamplers` fixed 2× upsamplers cannot run (latent sides must be
 * multiples of 2^fixedUpsamplers, so image sides multiples of that times the VAE's scale), or undefined when
 * both sides work.
 */
export function unsupportedSizeError(
  size: { readonly width: number; readonly height: number },
  vaeScale: number,
  fixedUpsamplers: number,
  file: string,
): PinholeError | undefined {
  const multiple = vaeScale * 2 ** fixedUpsamplers;
  const bad = (['width', 'height'] as const).filter((side) => size[side] % multiple !== 0);
  if (bad.length === 0) return undefined;
  const sides = bad.map((side) => {
    const value = size[side];
    const below = Math.floor(value / multiple) * multiple;
    const suggestion = below > 0 ? `${below} or ${below + multiple}` : `${multiple}`;
    return `${side}: ${value} is not a multiple of ${multiple} (use ${suggestion})`;
  });
  return new PinholeError(
    'INVALID_PARAMS',
    `${sides.join('; ')}. This model's UNet (${file}) was exported with fixed 2× upsampling at ${fixedUpsamplers} levels: it runs latents whose sides are multiples of ${2 ** fixedUpsamplers}, i.e. images whose sides are multiples of ${multiple}`,
  );
}
