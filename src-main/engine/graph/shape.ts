/**
 * Dimension algebra for shape inference. A symbolic dim is a monomial written canonically as an
 * optional integer coefficient and sorted symbol names joined by `*` (`'batch'`, `'2*height*width'`),
 * so products and exact quotients of symbols stay symbolic — `reshape([B, C, H, W] → [B, C, -1])`
 * gives `'H*W'`. Anything not a monomial (a sum, an inexact quotient) becomes unknown (`null`).
 */
import { type Dim, type Shape } from './ir';

type Mono = { coef: number; syms: string[] };

function toMono(d: Dim): Mono | null {
  if (d === null) return null;
  if (typeof d === 'number') return { coef: d, syms: [] };
  let coef = 1;
  const syms: string[] = [];
  for (const part of d.split('*')) {
    const p = part.trim();
    if (/^\d+$/.test(p)) coef *= Number(p);
    else syms.push(p);
  }
  return { coef, syms: syms.sort() };
}

function fromMono(m: Mono): Dim {
  if (m.coef === 0 || m.syms.length === 0) return m.coef;
  return (m.coef === 1 ? '' : `${m.coef}*`) + m.syms.join('*');
}

/** The canonical spelling of a dim (`'w*h'` → `'h*w'`). */
export function canonicalDim(d: Dim): Dim {
  const m = toMono(d);
  return m ? fromMono(m) : null;
}

/** a · b. */
export function dimMul(a: Dim, b: Dim): Dim {
  if (a === 0 || b === 0) return 0;
  const x = toMono(a);
  const y = toMono(b);
  if (!x || !y) return null;
  return fromMono({ coef: x.coef * y.coef, syms: [...x.syms, ...y.syms].sort() });
}

/** a / b when exact (b's symbols all in a, coefficient divides), else null. */
export function dimDiv(a: Dim, b: Dim): Dim {
  const x = toMono(a);
  const y = toMono(b);
  if (!x || !y || y.coef === 0 || x.coef % y.coef !== 0) return null;
  const syms = [...x.syms];
  for (const s of y.syms) {
    const i = syms.indexOf(s);
    if (i < 0) return null;
    syms.splice(i, 1);
  }
  return fromMono({ coef: x.coef / y.coef, syms });
}

/** a + b: numbers, or like monomials (`h + h = 2*h`); else null. */
export function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  const x = toMono(a);
  const y = toMono(b);
  if (!x || !y || x.syms.join('*') !== y.syms.join('*') || x.syms.length === 0) return null;
  return fromMono({ coef: x.coef + y.coef, syms: x.syms });
}

/** true: equal; false: certainly different (two different numbers); undefined: cannot tell. */
export function sameDim(a: Dim, b: Dim): boolean | undefined {
  if (a === null || b === null) return undefined;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  return canonicalDim(a) === canonicalDim(b) ? true : undefined;
}

/** Of two dims that must be equal, the better known one. */
export function unifyDim(a: Dim, b: Dim): Dim {
  if (typeof a === 'number') return a;
  if (typeof b === 'number') return b;
  return a ?? b;
}

/** Product of the dims (1 for a scalar). */
export function shapeNumel(shape: readonly Dim[]): Dim {
  let n: Dim = 1;
  for (const d of shape) n = dimMul(n, d);
  return n;
}

/**
 * Output size of a convolution/pooling window along one axis: floor((in + p0 + p1 − d·(k−1) − 1)/s) + 1.
 * Symbolic input stays symbolic when the result is an exact monomial (stride-1 "same" padding,
 * stride-s downsampling of a multiple of s). Returns undefined when a numeric result is < 1.
 */
export function convDim(input: Dim, k: number, s: number, d: number, p0: number, p1: number): Dim | undefined {
  const r = p0 + p1 - d * (k - 1) - 1;
  if (typeof input === 'number') {
    const out = Math.floor((input + r) / s) + 1;
    return out >= 1 ? out : undefined;
  }
  const m = toMono(input);
  if (!m || m.coef % s !== 0 || Math.floor(r / s) + 1 !== 0) return null;
  return fromMono({ coef: m.coef / s, syms: m.syms });
}

/**
 * Numpy-style broadcasting of several shapes. Returns the shape, or an error message when two
 * known sizes differ and neither is 1.
 */
export function broadcastShapes(shapes: readonly (readonly Dim[])[]): Shape | string {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i];
      if (d === undefined || d === 1) continue;
      if (dim === 1) dim = d;
      else if (sameDim(dim, d) === false)
        return `cannot broadcast ${shapes.map(formatShape).join(' with ')} (axis ${i - rank}: ${dim} vs ${d})`;
      else if (sameDim(dim, d) === undefined) dim = typeof d === 'number' ? d : typeof dim === 'number' ? dim : null;
    }
    out.push(dim);
  }
  return out;
}

/** `[batch, 4, 32, ?]`. */
export function formatShape(shape: readonly Dim[] | null | undefined): string {
  if (!shape) return '[?…]';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** A negative axis counted from the end; undefined when out of range. */
export function normalizeAxis(axis: number, rank: number): number | undefined {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : undefined;
}
