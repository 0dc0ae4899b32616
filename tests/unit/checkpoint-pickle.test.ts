/**
 * The restricted torch pickle reader: the fixture `.ckpt` (torch's zip format) gives the same tensors as the
 * `.safetensors`; a legacy (non-zip) file is read, strided views included; any global outside the allow-list
 * is refused by name before anything could run; truncated and corrupt files fail naming the file.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertModel, readTorchFile } from '../../src-main/engine/checkpoint';
import { openStateDict } from '../../src-main/engine/checkpoint/state-dict';
import { readPickle } from '../../src-main/engine/checkpoint/pickle-reader';
import { createTensor, tensorBytes, tensorToFloat32 } from '../../src-main/engine/graph';
import { SafetensorsFile, writeSafetensors } from '../../src-main/engine/weights';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

/** Pickle opcodes, written by hand so the test does not trust the reader's own notion of the format. */
const op = {
  proto: (v: number) => [0x80, v],
  global: (module: string, name: string) => [0x63, ...Buffer.from(`${module}\n${name}\n`, 'latin1')],
  str: (s: string) => [0x8c, Buffer.byteLength(s), ...Buffer.from(s)],
  int1: (v: number) => [0x4b, v],
  mark: [0x28],
  tuple: [0x74],
  emptyTuple: [0x29],
  emptyDict: [0x7d],
  reduce: [0x52],
  setitem: [0x73],
  binpersid: [0x51],
  newfalse: [0x89],
  stackGlobal: [0x93],
  stop: [0x2e],
};
const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
const noStorage = (): never => {
  throw new Error('no storage expected');
};

/** `{'w': _rebuild_tensor_v2(storage('0', FloatStorage, 4 elements), 0, size, stride, False, OrderedDict())}` */
function tensorDictPickle(size: number[], stride: number[]): number[][] {
  const ints = (xs: number[]) => [...op.mark, ...xs.flatMap((x) => op.int1(x)), ...op.tuple];
  return [
    op.proto(2),
    op.emptyDict,
    op.str('w'),
    op.global('torch._utils', '_rebuild_tensor_v2'),
    op.mark,
    op.mark,
    op.str('storage'),
    op.global('torch', 'FloatStorage'),
    op.str('0'),
    op.str('cpu'),
    op.int1(4),
    op.tuple,
    op.binpersid,
    op.int1(0),
    ints(size),
    ints(stride),
    op.newfalse,
    op.global('collections', 'OrderedDict'),
    op.emptyTuple,
    op.reduce,
    op.tuple,
    op.reduce,
    op.setitem,
    op.stop,
  ];
}

describe('restricted pickle reader', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-pickle-')));
  afterAll(() => tmp.cleanup());

  it('refuses every global outside the allow-list by name, before any call', () => {
    const marker = path.join(tmp.dir, 'ran');
    const cases: [number[][], string][] = [
      [[op.proto(2), op.global('os', 'system'), op.str(`touch ${marker}`), [0x85], op.reduce, op.stop], 'os.system'],
      [[op.proto(2), op.global('posix', 'system'), op.stop], 'posix.system'],
      [[op.proto(4), op.str('builtins'), op.str('eval'), op.stackGlobal, op.stop], 'builtins.eval'],
      [[op.proto(2), op.global('subprocess', 'Popen'), op.stop], 'subprocess.Popen'],
      [[op.proto(2), op.global('torch', 'load'), op.stop], 'torch.load'],
    ];
    for (const [parts, name] of cases) {
      expect(() => readPickle(bytes(...parts), 'evil.ckpt', noStorage)).toThrow(
        new RegExp(`evil\\.ckpt: refused to load: .*'${name.replace('.', '\\.')}'`),
      );
    }
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses INST/OBJ and calls of non-callables; reports truncation and unknown opcodes', () => {
    expect(() => readPickle(bytes([0x69, ...Buffer.from('os\nsystem\n')], op.stop), 'a.pt', noStorage)).toThrow(
      /not allowed/,
    );
    expect(() =>
      readPickle(bytes(op.proto(2), op.int1(1), op.emptyTuple, op.reduce, op.stop), 'a.pt', noStorage),
    ).toThrow(/a\.pt: corrupt pickle.*non-callable/);
    const whole = bytes(...tensorDictPickle([2, 2], [2, 1]));
    expect(() => readPickle(whole.subarray(0, 40), 'cut.pt', () => null)).toThrow(/cut\.pt: .*truncated/);
    expect(() => readPickle(bytes([0xff]), 'x.pt', noStorage)).toThrow(/unknown opcode 0xff/);
  });

  it('hostile-public.ckpt is refused naming its global and its marker never appears', async () => {
    const cases = JSON.parse(readFileSync(fixture('sd15-single/cases.json'), 'utf8')) as Record<string, string>;
    await expect(readTorchFile(fixture('sd15-single', cases['hostile_pickle']!))).rejects.toThrow(
      /hostile-public\.ckpt: refused to load: the pickle references '(posix|os)\.system'/,
    );
    expect(existsSync(cases['hostile_marker']!)).toBe(false);
  });

  it('the fixture .ckpt (zip format) holds the same tensors as the .safetensors', async () => {
    const ckpt = await openStateDict(fixture('sd15-single/tiny-sd15-public.ckpt'));
    const st = await SafetensorsFile.open(fixture('sd15-single/tiny-sd15-public.safetensors'));
    try {
      expect(ckpt.format).toBe('pickle');
      expect([...ckpt.tensors.keys()].sort()).toEqual([...st.names].sort());
      for (const name of st.names) {
        const a = ckpt.tensors.get(name)!;
        expect(a.dims, name).toEqual(st.entry(name).shape);
        expect(
          Buffer.from(tensorBytes(a)).equals(Buffer.from(tensorBytes(st.ref(name, { dtype: 'native' })))),
          name,
        ).toBe(true);
      }
    } finally {
      await st.close();
    }
  });

  it('reads the legacy (non-zip) format, strided views included', async () => {
    const values = new Float32Array([1, 2, 3, 4]);
    for (const [stride, expected] of [
      [
        [2, 1],
        [1, 2, 3, 4],
      ],
      [
        [1, 2],
        [1, 3, 2, 4],
      ], // a transposed view
    ] as const) {
      const file = path.join(tmp.dir, `legacy-${stride.join('')}.pt`);
      const magic = [op.proto(2), [0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19], op.stop];
      const protocol = [op.proto(2), [0x4d, 0xe9, 0x03], op.stop];
      const sysInfo = [op.proto(2), op.emptyDict, op.stop];
      const keys = [op.proto(2), op.mark, op.str('0'), [0x6c], op.stop];
      const count = Buffer.alloc(8);
      count.writeBigInt64LE(4n);
      writeFileSync(
        file,
        Buffer.concat([
          bytes(...magic, ...protocol, ...sysInfo, ...tensorDictPickle([2, 2], [...stride]), ...keys),
          count,
          Buffer.from(values.buffer),
        ]),
      );
      const tensors = await readTorchFile(file);
      expect([...tensorToFloat32(tensors.get('w')!)]).toEqual(expected);
      // Cut inside the tensor data: refused, naming the file.
      const cut = path.join(tmp.dir, 'cut.pt');
      writeFileSync(cut, readFileSync(file).subarray(0, readFileSync(file).length - 4));
      await expect(readTorchFile(cut)).rejects.toThrow(/cut\.pt: truncated/);
    }
  });

  it('a truncated zip checkpoint and a non-model file fail naming the file', async () => {
    const cut = path.join(tmp.dir, 'half.ckpt');
    const whole = readFileSync(fixture('sd15-single/tiny-sd15-public.ckpt'));
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    await expect(readTorchFile(cut)).rejects.toThrow(/half\.ckpt: .*(truncated|missing)/);
    const text = path.join(tmp.dir, 'notes.ckpt');
    writeFileSync(text, 'just some text, not a model');
    await expect(readTorchFile(text)).rejects.toThrow(/notes\.ckpt: not a PyTorch file/);
  });

  it('convertModel refuses a LoRA, a text file and a hostile pickle, leaving nothing in the cache', async () => {
    const lora = path.join(tmp.dir, 'style.safetensors');
    await writeSafetensors(lora, [
      createTensor(
        'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight',
        'float32',
        [4, 8],
        new Float32Array(32),
      ),
      createTensor('lora_unet_down_blocks_0_attentions_0_proj_in.alpha', 'float32', [], new Float32Array(1)),
    ]);
    const cache = path.join(tmp.dir, 'cache');
    await expect(convertModel(lora, cache)).rejects.toThrow(
      /style\.safetensors is not a Stable Diffusion checkpoint: it is a LoRA/,
    );
    await expect(convertModel(fixture('sd15-single/hostile-public.ckpt'), cache)).rejects.toThrow(/refused/);
    const junk = path.join(tmp.dir, 'junk.safetensors');
    writeFileSync(junk, Buffer.alloc(100, 7));
    await expect(convertModel(junk, cache)).rejects.toThrow(/junk\.safetensors/);
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(cache).filter((n) => n !== 'hashes')).toEqual([]);
  });
});
