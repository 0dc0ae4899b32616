/**
 * The runtime without onnxruntime: IO adaptation (dtypes, timestep shapes), execution-provider fallback and the
 * session cache, against fake backends.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  adaptToSpec,
  fromHalfBits,
  float16ToFloat32,
  float32ToFloat16,
  parseProviderName,
  providerPreference,
  selectExecutionProvider,
  SessionCache,
  timestepFeed,
  toFloat32,
  toHalfBits,
  type HostTensor,
  type InferenceBackend,
  type RawSession,
  type SessionOptions,
  type ValueSpec,
} from '../../src-main/engine/runtime';
import { makeTempDir } from '../helpers/temp-dir';

describe('float16', () => {
  it('converts exactly representable values both ways', () => {
    const values = [0, -0, 1, -2, 0.5, 65504, -65504, 2 ** -14, 2 ** -24, Infinity, -Infinity];
    for (const v of values) expect(Object.is(fromHalfBits(toHalfBits(v)), v)).toBe(true);
    expect(Number.isNaN(fromHalfBits(toHalfBits(NaN)))).toBe(true);
  });

  it('rounds to nearest, ties to even, overflow to infinity, tiny to zero', () => {
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10 → even (1)
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (1+2^-9)
    expect(toHalfBits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // above the tie
    expect(toHalfBits(65520)).toBe(0x7c00); // rounds past the largest half
    expect(toHalfBits(2 ** -25)).toBe(0); // half the smallest subnormal: tie → even (0)
    expect(toHalfBits(3 * 2 ** -26)).toBe(1); // above the tie
    expect(fromHalfBits(0x0001)).toBe(2 ** -24);
    expect(fromHalfBits(0x7bff)).toBe(65504);
  });

  it('converts arrays', () => {
    const f32 = new Float32Array([0.1, -3.25, 1000.5]);
    const back = float16ToFloat32(float32ToFloat16(f32));
    expect(back[1]).toBe(-3.25);
    expect(back[2]).toBe(1000.5);
    expect(Math.abs(back[0]! - 0.1)).toBeLessThan(1e-4);
  });
});

describe('IO adaptation', () => {
  const spec = (type: ValueSpec['type'], shape: ValueSpec['shape'], name = 'x'): ValueSpec => ({ name, type, shape });
  const f32 = (values: number[], dims: number[]): HostTensor => ({
    type: 'float32',
    data: Float32Array.from(values),
    dims,
  });

  it('feeds int32 ids to an int64 input and back', () => {
    const ids: HostTensor = { type: 'int32', data: Int32Array.from([49406, 320, 49407]), dims: [1, 3] };
    const wide = adaptToSpec(spec('int64', ['batch', 'sequence']), ids);
    expect(wide.type).toBe('int64');
    expect(Array.from(wide.data as BigInt64Array)).toEqual([49406n, 320n, 49407n]);
    expect(adaptToSpec(spec('int32', ['batch', 'sequence']), ids)).toBe(ids);
  });

  it('converts float32 to float16 at the boundary and outputs back to float32', () => {
    const half = adaptToSpec(spec('float16', ['batch', 4]), f32([1, 0.5, -2, 3.140625], [1, 4]));
    expect(half.type).toBe('float16');
    expect(Array.from(half.data as Uint16Array)).toEqual([0x3c00, 0x3800, 0xc000, 0x4248]);
    expect(Array.from(toFloat32(half))).toEqual([1, 0.5, -2, 3.140625]);
  });

  it('rejects a wrong rank or a wrong fixed dimension, naming the input', () => {
    expect(() =>
      adaptToSpec(spec('float32', ['batch', 77, 768], 'encoder_hidden_states'), f32([1, 2], [1, 2])),
    ).toThrow(/encoder_hidden_states.*\[batch, 77, 768\].*\[1, 2\]/);
    expect(() => adaptToSpec(spec('float32', [1, 4]), f32([1, 2, 3, 4, 5, 6, 7, 8], [2, 4]))).toThrow(/expects shape/);
  });

  it('shapes the timestep as the model declares it', () => {
    const scalar = timestepFeed(spec('float32', []), 856.2857, 2);
    expect(scalar.dims).toEqual([]);
    expect((scalar.data as Float32Array)[0]).toBe(Math.fround(856.2857));
    const one = timestepFeed(spec('int64', [1]), 856.9, 2);
    expect(one.dims).toEqual([1]);
    expect(Array.from(one.data as BigInt64Array)).toEqual([856n]);
    const batch = timestepFeed(spec('int64', ['steps']), 999.99, 3);
    expect(batch.dims).toEqual([3]);
    expect(Array.from(batch.data as BigInt64Array)).toEqual([999n, 999n, 999n]);
    const half = timestepFeed(spec('float16', ['batch']), 500, 2);
    expect(Array.from(float16ToFloat32(half.data as Uint16Array))).toEqual([500, 500]);
    const int32 = timestepFeed(spec('int32', ['batch']), 0.7, 1);
    expect(Array.from(int32.data as Int32Array)).toEqual([0]);
    expect(() => timestepFeed(spec('float32', [1, 1]), 1, 1)).toThrow(/scalar or a vector/);
  });
});

/**
 * A fake backend: each provider is `ok`, `wrong` (computes a wrong sum) or fails with the given message;
 * sessions add their two inputs (the probe model).
 */
function fakeBackend(
  behaviour: Partial<Record<string, string>>,
  listed: string[] = ['cpu', 'webgpu', 'cuda', 'dml', 'coreml'],
): InferenceBackend & { created: string[] } {
  const created: string[] = [];
  return {
    created,
    listProviders: () => listed,
    async createSession(_model, options: SessionOptions): Promise<RawSession> {
      const mode = behaviour[options.executionProvider] ?? 'ok';
      created.push(options.executionProvider);
      if (mode !== 'ok' && mode !== 'wrong') throw new Error(mode);
      return {
        inputs: [],
        outputs: [],
        async run(feeds) {
          const a = feeds['a']!.data as Float32Array;
          const b = feeds['b']!.data as Float32Array;
          const c = a.map((v, i) => v + b[i]! + (mode === 'wrong' ? 1 : 0));
          return { c: { type: 'float32', data: c, dims: [4] } };
        },
        release: async () => {},
      };
    },
  };
}

describe('execution provider selection', () => {
  it('has a preference list per platform ending with the CPU', () => {
    expect(providerPreference('linux')).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(providerPreference('win32')).toEqual(['cuda', 'dml', 'webgpu', 'cpu']);
    expect(providerPreference('darwin')).toEqual(['coreml', 'webgpu', 'cpu']);
    expect(providerPreference('freebsd')).toEqual(['cpu']);
  });

  it('falls back in order and records why each provider was skipped', async () => {
    const backend = fakeBackend({ cuda: 'Failed to load shared library', dml: 'wrong' }, ['cpu', 'cuda', 'dml']);
    const selection = await selectExecutionProvider(backend, { platform: 'win32', force: undefined });
    expect(selection.provider).toBe('cpu');
    expect(selection.forced).toBe(false);
    expect(selection.attempts.map((a) => [a.provider, a.ok, a.reason])).toEqual([
      ['cuda', false, 'Failed to load shared library'],
      ['dml', false, 'the probe model computed a wrong result'],
      ['webgpu', false, 'not built into onnxruntime-node for win32'],
      ['cpu', true, undefined],
    ]);
    // The unlisted provider was never tried.
    expect(backend.created).toEqual(['cuda', 'dml', 'cpu']);
  });

  it('takes the first provider that works', async () => {
    const selection = await selectExecutionProvider(fakeBackend({ coreml: 'no ANE' }), {
      platform: 'darwin',
      force: undefined,
    });
    expect(selection.provider).toBe('webgpu');
    expect(selection.attempts).toHaveLength(2);
  });

  it('strips ORT source locations from reasons', async () => {
    const message =
      '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 void f() adapter_result.status == Success was false. Failed to get a WebGPU adapter: No supported adapters';
    const selection = await selectExecutionProvider(fakeBackend({ cuda: 'x', webgpu: message }), {
      platform: 'linux',
      force: undefined,
    });
    expect(selection.attempts[1]!.reason).toBe('Failed to get a WebGPU adapter: No supported adapters');
  });

  it('forces a provider by option or PINHOLE_EP, without silent fallback', async () => {
    const ok = await selectExecutionProvider(fakeBackend({}), { platform: 'linux', force: 'WebGPU' });
    expect(ok).toMatchObject({ provider: 'webgpu', forced: true });
    await expect(
      selectExecutionProvider(fakeBackend({ cuda: 'no libcudart' }), { platform: 'linux', force: 'cuda' }),
    ).rejects.toMatchObject({
      code: 'UNAVAILABLE',
      message: expect.stringMatching(/"cuda" was forced.*no libcudart/),
    });
    const previous = process.env['PINHOLE_EP'];
    process.env['PINHOLE_EP'] = 'cpu';
    try {
      const fromEnv = await selectExecutionProvider(fakeBackend({ cuda: 'x' }), { platform: 'linux' });
      expect(fromEnv).toMatchObject({ provider: 'cpu', forced: true });
      expect(fromEnv.attempts).toHaveLength(1);
    } finally {
      if (previous === undefined) delete process.env['PINHOLE_EP'];
      else process.env['PINHOLE_EP'] = previous;
    }
  });

  it('parses provider names', () => {
    expect(parseProviderName('auto')).toBeUndefined();
    expect(parseProviderName('')).toBeUndefined();
    expect(parseProviderName(' DirectML ')).toBe('dml');
    expect(() => parseProviderName('tpu')).toThrow(/Unknown execution provider "tpu"/);
  });

  it('fails with every reason when nothing works', async () => {
    await expect(
      selectExecutionProvider(fakeBackend({ cpu: 'broken install' }), { platform: 'plan9', force: undefined }),
    ).rejects.toThrow(/No execution provider.*cpu: broken install/);
  });
});

describe('session cache', () => {
  const temp = makeTempDir('pinhole-sessions-');
  afterAll(temp.cleanup);
  const file = (name: string, bytes: number): string => {
    const p = path.join(temp.dir, name);
    writeFileSync(p, Buffer.alloc(bytes));
    return p;
  };
  const options: SessionOptions = { executionProvider: 'cpu' };

  /** Sessions declaring `x: float32 [n]` → `y`, recording loads and releases; `oom` fails loads while set. */
  function countingBackend() {
    const state = { loads: [] as string[], releases: [] as string[], oom: false, runs: 0 };
    const backend: InferenceBackend = {
      listProviders: () => ['cpu'],
      async createSession(model) {
        const name = path.basename(String(model));
        if (state.oom && state.releases.length === 0) throw new Error('Failed to allocate memory for requested buffer');
        state.loads.push(name);
        return {
          inputs: [{ name: 'x', type: 'int64', shape: ['n'] }],
          outputs: [{ name: 'y', type: 'float16', shape: ['n'] }],
          async run(feeds) {
            state.runs++;
            const x = feeds['x']!;
            expect(x.type).toBe('int64');
            return { y: { type: 'float16', data: float32ToFloat16([1.5]), dims: [1] } };
          },
          async release() {
            state.releases.push(name);
          },
        };
      },
    };
    return { backend, state };
  }

  it('shares one session per (file, options) and adapts feeds and outputs', async () => {
    const { backend, state } = countingBackend();
    const cache = new SessionCache(backend);
    const a = file('a.onnx', 10);
    const [s1, s2] = await Promise.all([cache.get(a, options), cache.get(a, options)]);
    expect(s1).toBe(s2);
    expect(state.loads).toEqual(['a.onnx']);
    const out = await s1.runFloat({ x: { type: 'int32', data: Int32Array.of(3), dims: [1] } }, ['y']);
    expect(Array.from(out['y']!.data)).toEqual([1.5]);
    const other = await cache.get(a, { executionProvider: 'cpu', intraOpNumThreads: 1 });
    expect(other).not.toBe(s1);
    await expect(s1.run({})).rejects.toThrow(/declares input\(s\) x/);
    await expect(s1.run({ z: { type: 'float32', data: Float32Array.of(1), dims: [1] } })).rejects.toThrow(
      /has no input "z"/,
    );
  });

  it('releases the least recently used session past the limits and reloads it on use', async () => {
    const { backend, state } = countingBackend();
    const cache = new SessionCache(backend, { maxSessions: 2 });
    const [a, b, c] = [file('la.onnx', 10), file('lb.onnx', 10), file('lc.onnx', 10)];
    const sa = await cache.get(a, options);
    await cache.get(b, options);
    await sa.run({ x: { type: 'int64', data: BigInt64Array.of(1n), dims: [1] } }); // a is now the most recent
    await cache.get(c, options);
    expect(state.releases).toEqual(['lb.onnx']);
    expect(cache.loadedStats.sessions).toBe(2);
    const sb = await cache.get(b, options);
    expect(sb.loaded).toBe(false);
    await sb.run({ x: { type: 'int64', data: BigInt64Array.of(1n), dims: [1] } });
    expect(sb.loaded).toBe(true);
    expect(state.loads).toEqual(['la.onnx', 'lb.onnx', 'lc.onnx', 'lb.onnx']);
    expect(state.releases).toEqual(['lb.onnx', 'la.onnx']);
  });

  it('budgets by bytes', async () => {
    const { backend, state } = countingBackend();
    const cache = new SessionCache(backend, { maxBytes: 250 });
    await cache.get(file('ba.onnx', 100), options);
    await cache.get(file('bb.onnx', 100), options);
    await cache.get(file('bc.onnx', 100), options);
    expect(state.releases).toEqual(['ba.onnx']);
    expect(cache.loadedStats.bytes).toBe(200);
  });

  it('releases idle sessions and retries once when a load runs out of memory', async () => {
    const { backend, state } = countingBackend();
    const cache = new SessionCache(backend);
    await cache.get(file('oa.onnx', 10), options);
    state.oom = true;
    const sb = await cache.get(file('ob.onnx', 10), options);
    expect(sb.loaded).toBe(true);
    expect(state.releases).toEqual(['oa.onnx']);
  });

  it('frees the idle sessions and retries once when a run runs out of memory', async () => {
    const { backend, state } = countingBackend();
    let failures = 1;
    const tight: InferenceBackend = {
      ...backend,
      async createSession(model, opts) {
        const raw = await backend.createSession(model, opts);
        if (!String(model).endsWith('unet.onnx')) return raw;
        return {
          ...raw,
          run: (feeds, fetches) =>
            failures-- > 0
              ? Promise.reject(new Error('Failed to allocate memory for requested buffer of size 1073741824'))
              : raw.run(feeds, fetches),
        };
      },
    };
    const cache = new SessionCache(tight);
    const encoder = await cache.get(file('encoder.onnx', 10), options);
    const unet = await cache.get(file('unet.onnx', 10), options);
    const feeds = { x: { type: 'int64' as const, data: BigInt64Array.of(1n), dims: [1] } };
    await expect(unet.run(feeds)).resolves.toHaveProperty('y');
    // The idle encoder made room; the UNet itself stayed loaded.
    expect(state.releases).toEqual(['encoder.onnx']);
    expect(encoder.loaded).toBe(false);
    expect(unet.loaded).toBe(true);
    // Nothing left to free: the error says what to lower instead of retrying forever.
    failures = 2;
    await expect(unet.run(feeds)).rejects.toThrow(/Out of memory .*unet\.onnx/);
    // A released session reloads when used.
    await expect(encoder.run(feeds)).resolves.toHaveProperty('y');
    expect(state.loads.filter((n) => n === 'encoder.onnx')).toHaveLength(2);
  });

  it('turns running out of memory mid-run into an error that says what to lower', async () => {
    const { backend } = countingBackend();
    const failing: InferenceBackend = {
      ...backend,
      async createSession(model, opts) {
        const raw = await backend.createSession(model, opts);
        return {
          ...raw,
          run: () => Promise.reject(new Error('Failed to allocate memory for requested buffer of size 1073741824')),
        };
      },
    };
    const cache = new SessionCache(failing);
    const session = await cache.get(file('big.onnx', 10), options);
    const run = session.run({ x: { type: 'int64', data: BigInt64Array.of(1n), dims: [1] } });
    await expect(run).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(run).rejects.toThrow(/Out of memory .*big\.onnx on cpu.*smaller image size or batch size/);
    // Other failures pass through unchanged.
    const broken: InferenceBackend = {
      ...backend,
      async createSession(model, opts) {
        const raw = await backend.createSession(model, opts);
        return { ...raw, run: () => Promise.reject(new Error('Non-zero status code returned while running Conv')) };
      },
    };
    const other = await new SessionCache(broken).get(file('bad.onnx', 10), options);
    await expect(other.run({ x: { type: 'int64', data: BigInt64Array.of(1n), dims: [1] } })).rejects.toThrow(
      /^Non-zero status code/,
    );
  });

  it('reports a missing file and disposes explicitly', async () => {
    const { backend, state } = countingBackend();
    const cache = new SessionCache(backend);
    await expect(cache.get(path.join(temp.dir, 'nope.onnx'), options)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await cache.get(file('da.onnx', 10), options);
    await cache.dispose(temp.dir);
    expect(cache.size).toBe(0);
    expect(state.releases).toContain('da.onnx');
  });
});
