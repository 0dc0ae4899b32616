/**
 * A restricted reader for Python pickles (protocols 0–5) as `torch.save` writes them. It is a data
 * parser, not a virtual machine: GLOBAL / STACK_GLOBAL resolve through the allow-list in
 * `pickle-globals.ts` (anything else is refused there, by name), REDUCE / NEWOBJ only run those
 * entries' JavaScript constructors, and persistent ids (torch storages) go to the caller.
 * Every malformed or truncated stream is an error naming the file and the byte.
 */
import { PinholeError } from '../../../src-shared/errors';
import { allowedGlobal } from './pickle-globals';
import { AllowedGlobal, OpaqueObject, type PickleKey, type PickleValue } from './pickle-values';

/** Resolves a persistent id (torch: `('storage', StorageClass, key, location, numel)`). */
export type PersistentLoad = (pid: PickleValue) => PickleValue;

/** A stack marker (MARK), never a value. */
const MARK = Symbol('mark');
type Slot = PickleValue | typeof MARK;

/** Caps that keep a hostile stream from exhausting memory. */
const MAX_MEMO = 50_000_000;

/**
 * Reads one pickle from `bytes` starting at `start`.
 * @returns the value and the offset just past its STOP opcode (legacy torch files hold several pickles in a row).
 * @throws PinholeError `IMPORT_REJECTED` naming `file`: a refused global, a truncated or malformed stream.
 */
export function readPickle(
  bytes: Uint8Array,
  file: string,
  persistentLoad: PersistentLoad,
  start = 0,
): { value: PickleValue; end: number } {
  return new PickleReader(bytes, file, persistentLoad, start).run();
}

class PickleReader {
  private pos: number;
  private readonly stack: Slot[] = [];
  private readonly memo = new Map<number, PickleValue>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly file: string,
    private readonly persistentLoad: PersistentLoad,
    start: number,
  ) {
    this.pos = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private fail(reason: string): never {
    throw new PinholeError('IMPORT_REJECTED', `${this.file}: corrupt pickle at byte ${this.pos}: ${reason}`);
  }

  private need(n: number): number {
    if (this.pos + n > this.bytes.length) this.fail('the data ends early (the file is truncated)');
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.need(1)]!;
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('a length over 2^53');
    return Number(v);
  }
  private take(n: number): Uint8Array {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  private utf8(n: number): string {
    return Buffer.from(this.take(n)).toString('utf8');
  }
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.fail('a text argument has no end of line');
    const text = Buffer.from(this.bytes.subarray(this.pos, end)).toString('latin1');
    this.pos = end + 1;
    return text;
  }

  private push(v: Slot): void {
    this.stack.push(v);
  }
  private pop(): PickleValue {
    const v = this.stack.pop();
    if (v === undefined) this.fail('the stack is empty');
    if (v === MARK) this.fail('a value was expected, found a mark');
    return v;
  }
  private top(): PickleValue {
    const v = this.stack[this.stack.length - 1];
    if (v === undefined || v === MARK) this.fail('the stack is empty');
    return v;
  }
  /** Pops everything down to the last MARK (and the mark). */
  private popMark(): PickleValue[] {
    const at = this.stack.lastIndexOf(MARK);
    if (at < 0) this.fail('no mark on the stack');
    const items = this.stack.splice(at) as PickleValue[];
    items.shift();
    return items;
  }
  private setMemo(index: number, value: PickleValue): void {
    if (this.memo.size >= MAX_MEMO && !this.memo.has(index)) this.fail('too many memo entries');
    this.memo.set(index, value);
  }
  private getMemo(index: number): PickleValue {
    if (!this.memo.has(index)) this.fail(`memo entry ${index} is not defined`);
    return this.memo.get(index)!;
  }

  private dict(): Map<PickleKey, PickleValue> {
    const d = this.top();
    if (!(d instanceof Map)) this.fail('SETITEM on something that is not a dict');
    return d;
  }

  private call(callable: PickleValue, args: PickleValue): PickleValue {
    if (!(callable instanceof AllowedGlobal) || !callable.construct) {
      this.fail(`a call of ${callable instanceof AllowedGlobal ? callable.qualifiedName : 'a non-callable value'}`);
    }
    if (!Array.isArray(args)) this.fail(`${callable.qualifiedName} called without an argument tuple`);
    return callable.construct(args);
  }

  private global(module: string, name: string): AllowedGlobal {
    return allowedGlobal(module, name, this.file);
  }

  run(): { value: PickleValue; end: number } {
    for (;;) {
      const op = this.u8();
      switch (op) {
        case 0x80: // PROTO
          if (this.u8() > 5) this.fail('pickle protocol newer than 5');
          break;
        case 0x95: // FRAME
          this.need(8);
          break;
        case 0x2e: // STOP
          return { value: this.pop(), end: this.pos };
        case 0x28: // MARK
          this.push(MARK);
          break;
        case 0x30: // POP
          if (this.stack.pop() === undefined) this.fail('POP on an empty stack');
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          this.push(this.top());
          break;
        case 0x4e: // NONE
          this.push(null);
          break;
        case 0x88: // NEWTRUE
          this.push(true);
          break;
        case 0x89: // NEWFALSE
          this.push(false);
          break;
        case 0x4b: // BININT1
          this.push(this.u8());
          break;
        case 0x4d: // BININT2
          this.push(this.u16());
          break;
        case 0x4a: // BININT
          this.push(this.i32());
          break;
        case 0x8a: // LONG1
          this.push(this.long(this.u8()));
          break;
        case 0x8b: // LONG4
          this.push(this.long(this.i32()));
          break;
        case 0x49: // INT (text): also True / False as 01 / 00
          this.push(this.textInt(this.line()));
          break;
        case 0x4c: // LONG (text)
          this.push(this.textInt(this.line().replace(/L$/, '')));
          break;
        case 0x47: // BINFLOAT
          this.push(this.view.getFloat64(this.need(8), false));
          break;
        case 0x46: // FLOAT (text)
          this.push(Number.parseFloat(this.line()));
          break;
        case 0x58: // BINUNICODE
          this.push(this.utf8(this.u32()));
          break;
        case 0x8c: // SHORT_BINUNICODE
          this.push(this.utf8(this.u8()));
          break;
        case 0x8d: // BINUNICODE8
          this.push(this.utf8(this.u64()));
          break;
        case 0x56: // UNICODE (raw-unicode-escape text; only \uXXXX escapes matter in practice)
          this.push(
            this.line().replace(/\\u([0-9a-fA-F]{4})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
          );
          break;
        case 0x54: // BINSTRING
          this.push(Buffer.from(this.take(this.i32())).toString('latin1'));
          break;
        case 0x55: // SHORT_BINSTRING
          this.push(Buffer.from(this.take(this.u8())).toString('latin1'));
          break;
        case 0x53: // STRING (quoted text)
          this.push(this.line().replace(/^(['"])(.*)\1$/, '$2'));
          break;
        case 0x42: // BINBYTES
          this.push(this.take(this.u32()).slice());
          break;
        case 0x43: // SHORT_BINBYTES
          this.push(this.take(this.u8()).slice());
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          this.push(this.take(this.u64()).slice());
          break;
        case 0x29: // EMPTY_TUPLE
        case 0x5d: // EMPTY_LIST
          this.push([]);
          break;
        case 0x7d: // EMPTY_DICT
          this.push(new Map());
          break;
        case 0x8f: // EMPTY_SET
          this.push(new Set());
          break;
        case 0x74: // TUPLE
        case 0x6c: // LIST
          this.push(this.popMark());
          break;
        case 0x85: // TUPLE1
          this.push([this.pop()]);
          break;
        case 0x86: {
          // TUPLE2
          const b = this.pop();
          this.push([this.pop(), b]);
          break;
        }
        case 0x87: {
          // TUPLE3
          const c = this.pop();
          const b = this.pop();
          this.push([this.pop(), b, c]);
          break;
        }
        case 0x64: {
          // DICT
          const items = this.popMark();
          const d = new Map<PickleKey, PickleValue>();
          for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i] as PickleKey, items[i + 1]!);
          this.push(d);
          break;
        }
        case 0x91: // FROZENSET
          this.push(new Set(this.popMark() as PickleKey[]));
          break;
        case 0x90: {
          // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail('ADDITEMS on something that is not a set');
          for (const item of items) s.add(item as PickleKey);
          break;
        }
        case 0x61: {
          // APPEND
          const v = this.pop();
          const list = this.top();
          if (!Array.isArray(list)) this.fail('APPEND on something that is not a list');
          list.push(v);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark();
          const list = this.top();
          if (!Array.isArray(list)) this.fail('APPENDS on something that is not a list');
          for (const item of items) list.push(item);
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop();
          const k = this.pop();
          this.dict().set(k as PickleKey, v);
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark();
          const d = this.dict();
          for (let i = 0; i + 1 < items.length; i += 2) d.set(items[i] as PickleKey, items[i + 1]!);
          break;
        }
        case 0x71: // BINPUT
          this.setMemo(this.u8(), this.top());
          break;
        case 0x72: // LONG_BINPUT
          this.setMemo(this.u32(), this.top());
          break;
        case 0x70: // PUT (text)
          this.setMemo(Number.parseInt(this.line(), 10), this.top());
          break;
        case 0x94: // MEMOIZE
          this.setMemo(this.memo.size, this.top());
          break;
        case 0x68: // BINGET
          this.push(this.getMemo(this.u8()));
          break;
        case 0x6a: // LONG_BINGET
          this.push(this.getMemo(this.u32()));
          break;
        case 0x67: // GET (text)
          this.push(this.getMemo(Number.parseInt(this.line(), 10)));
          break;
        case 0x63: {
          // GLOBAL "module\nname\n"
          const module = this.line();
          this.push(this.global(module, this.line()));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.fail('STACK_GLOBAL without two names');
          this.push(this.global(module, name));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.pop();
          this.push(this.call(this.pop(), args));
          break;
        }
        case 0x81: {
          // NEWOBJ: cls.__new__(cls, *args), only for allowed constructors
          const args = this.pop();
          this.push(this.call(this.pop(), args));
          break;
        }
        case 0x92: {
          // NEWOBJ_EX
          this.pop(); // kwargs
          const args = this.pop();
          this.push(this.call(this.pop(), args));
          break;
        }
        case 0x62: {
          // BUILD: the state of an allowed object; kept as data, never used to set attributes on code
          const state = this.pop();
          const target = this.top();
          if (target instanceof OpaqueObject) target.state = state;
          break;
        }
        case 0x51: // BINPERSID
          this.push(this.persistentLoad(this.pop()));
          break;
        case 0x50: // PERSID (text)
          this.push(this.persistentLoad(this.line()));
          break;
        case 0x69: // INST: refused like GLOBAL would be (it names a class and calls it)
        case 0x6f: // OBJ
        case 0x82: // EXT1
        case 0x83: // EXT2
        case 0x84: // EXT4
          this.fail(
            `opcode 0x${op.toString(16)} (class instantiation through the extension registry or INST/OBJ) is not allowed`,
          );
          break;
        default:
          this.fail(`unknown opcode 0x${op.toString(16)}`);
      }
    }
  }

  /** LONG1 / LONG4: little-endian two's complement of `n` bytes. */
  private long(n: number): number | bigint {
    if (n < 0) this.fail('negative LONG length');
    const b = this.take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private textInt(text: string): number | bigint | boolean {
    if (text === '01') return true;
    if (text === '00') return false;
    if (!/^-?\d+$/.test(text)) this.fail(`'${text.slice(0, 20)}' is not an integer`);
    const v = BigInt(text);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
}
