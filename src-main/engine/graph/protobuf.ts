/**
 * The protobuf wire format, just what ONNX needs: varints (int64 exact, via two 32-bit halves),
 * fixed32/fixed64, length-delimited fields, packed and unpacked repeated scalars.
 *
 * The writer produces a list of chunks instead of one buffer: large byte fields (weights) are kept
 * by reference, so encoding a model copies only its small parts and the file can be written
 * chunk by chunk.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

/** Raised on malformed input; the codec wraps it with the file name. */
export class ProtoError extends Error {
  override readonly name = 'ProtoError';
}

const decoder = new TextDecoder('utf-8');
const encoder = new TextEncoder();

/** Reads one message (or a packed field) from a byte range. */
export class ProtoReader {
  pos = 0;
  private readonly view: DataView;

  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** Next field: `[field number, wire type]`. */
  tag(): [number, number] {
    const t = this.uint();
    return [Math.floor(t / 8), t % 8];
  }

  /** A signed int64 varint: a number when exact, else a bigint. */
  int64(): number | bigint {
    let lo = 0;
    let hi = 0;
    for (let shift = 0; ; shift += 7) {
      if (shift >= 70) throw new ProtoError(`varint longer than 10 bytes at byte ${this.pos}`);
      const b = this.buf[this.pos++];
      if (b === undefined) throw new ProtoError('truncated varint');
      const bits = b & 0x7f;
      if (shift < 28) lo |= bits << shift;
      else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (shift - 32);
      if ((b & 0x80) === 0) break;
    }
    lo >>>= 0;
    hi >>>= 0;
    if (hi < 0x200000) return hi * 0x100000000 + lo;
    if (hi >= 0xffe00000) {
      // Small negative: two's complement within ±2^53.
      const nhi = ~hi >>> 0;
      const nlo = ~lo >>> 0;
      const mag = nhi * 0x100000000 + nlo + 1;
      if (Number.isSafeInteger(mag)) return -mag;
    }
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  /** A non-negative varint that fits a JS number (lengths, enums, counts). */
  uint(): number {
    const v = this.int64();
    if (typeof v !== 'number' || v < 0) throw new ProtoError(`varint ${v} out of range at byte ${this.pos}`);
    return v;
  }

  /** A length-delimited field's bytes (a view into the buffer, not a copy). */
  bytes(): Uint8Array {
    const len = this.uint();
    const end = this.pos + len;
    if (end > this.buf.length) throw new ProtoError(`field of ${len} bytes runs past the end (byte ${this.pos})`);
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  string(): string {
    return decoder.decode(this.bytes());
  }

  /** A nested message. */
  message(): ProtoReader {
    return new ProtoReader(this.bytes());
  }

  float(): number {
    this.need(4);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** Skips a field of the given wire type (unknown fields). */
  skip(wire: number): void {
    if (wire === WIRE_VARINT) this.int64();
    else if (wire === WIRE_FIXED64) this.advance(8);
    else if (wire === WIRE_LEN) this.bytes();
    else if (wire === WIRE_FIXED32) this.advance(4);
    else throw new ProtoError(`unsupported wire type ${wire} at byte ${this.pos}`);
  }

  /** A repeated int64 field's values, packed (one LEN field) or not (one varint). */
  repeatedInt64(wire: number, out: (number | bigint)[]): void {
    if (wire !== WIRE_LEN) {
      out.push(this.int64());
      return;
    }
    const r = this.message();
    while (!r.done) out.push(r.int64());
  }

  /** A repeated float field's values, packed or not. */
  repeatedFloat(wire: number, out: number[]): void {
    if (wire !== WIRE_LEN) {
      out.push(this.float());
      return;
    }
    const r = this.message();
    while (!r.done) out.push(r.float());
  }

  /** A repeated double field's values, packed or not. */
  repeatedDouble(wire: number, out: number[]): void {
    if (wire !== WIRE_LEN) {
      out.push(this.double());
      return;
    }
    const r = this.message();
    while (!r.done) out.push(r.double());
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new ProtoError(`truncated fixed-width field at byte ${this.pos}`);
  }

  private advance(n: number): void {
    this.need(n);
    this.pos += n;
  }
}

/** Byte fields at least this long are referenced, not copied. */
const BIG = 64 * 1024;
/** Small writes accumulate in a buffer flushed at this size. */
const BLOCK = 256 * 1024;

/** Writes one message as a list of chunks (see the file comment). */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;
  private flushed = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));

  /** Bytes written so far. */
  get length(): number {
    return this.flushed + this.pos;
  }

  /** A varint of a non-negative integer or a (two's complement, 10-byte) negative int64. */
  varint(value: number | bigint): void {
    if (typeof value === 'number' && value >= 0 && value < 0x80000000) {
      this.ensure(5);
      let v = value;
      while (v >= 0x80) {
        this.buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.pos++] = v;
      return;
    }
    let big = BigInt.asUintN(64, BigInt(value));
    this.ensure(10);
    while (big >= 0x80n) {
      this.buf[this.pos++] = Number(big & 0x7fn) | 0x80;
      big >>= 7n;
    }
    this.buf[this.pos++] = Number(big);
  }

  tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  int(field: number, value: number | bigint): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  float(field: number, value: number): void {
    this.tag(field, WIRE_FIXED32);
    this.scratch.setFloat32(0, value, true);
    this.raw(new Uint8Array(this.scratch.buffer, 0, 4));
  }

  string(field: number, value: string): void {
    this.bytes(field, encoder.encode(value));
  }

  bytes(field: number, value: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(value.length);
    this.raw(value);
  }

  /** A nested message written by `write` into its own writer, then spliced in. */
  message(field: number, write: (w: ProtoWriter) => void): void {
    const child = new ProtoWriter();
    write(child);
    this.tag(field, WIRE_LEN);
    this.varint(child.length);
    for (const chunk of child.finish()) this.raw(chunk);
  }

  /** Appends bytes: copied when small, referenced when large. */
  raw(bytes: Uint8Array): void {
    if (bytes.length >= BIG) {
      this.flush();
      this.chunks.push(bytes);
      this.flushed += bytes.length;
      return;
    }
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** The message as chunks, in order. The writer must not be used afterwards. */
  finish(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    if (this.pos + n > BLOCK) this.flush();
    if (n > this.buf.length - this.pos) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n, 256));
      grown.set(this.buf.subarray(0, this.pos));
      this.buf = grown;
    }
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.flushed += this.pos;
    this.buf = new Uint8Array(Math.min(BLOCK, Math.max(256, this.buf.length)));
    this.pos = 0;
  }
}

/** Chunks → one buffer. */
export function concatChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
