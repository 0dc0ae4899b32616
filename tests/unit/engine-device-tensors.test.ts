/**
 * Device residency and its surroundings without a GPU: the runtime's upload/feed accounting over a fake backend
 * that keeps "device" tensors, the UNet runner feeding uploaded conditioning (and host rows when it runs in
 * slices), the rule that a software WebGPU adapter is never chosen unless forced, the hand-encoded upload
 * model as ONNX Runtime's CPU provider reads it, and the preview PNG encoder checked by an independent decoder.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { latentToRgb, rgbToPngDataUrl } from '../../src-main/engine/image';
import { UNetRunner } from '../../src-main/engine/pipelines';
import {
  Runtime,
  selectExecutionProvider,
  type DeviceTensor,
  type HostTensor,
  type InferenceBackend,
  type RawSession,
  type SessionOptions,
  type ValueSpec,
} from '../../src-main/engine/runtime';
import { identityModelBytes } from '../../src-main/engine/runtime/tiny-onnx';
import { makeTempDir } from '../helpers/temp-dir';

const UNET_INPUTS: ValueSpec[] = [
  { name: 'sample', type: 'float32', shape: ['batch', 4, 'h', 'w'] },
  { name: 'timestep', type: 'int64', shape: ['batch'] },
  { name: 'encoder_hidden_states', type: 'float16', shape: ['batch', 'tokens', 3] },
];

/** A device tensor of the fake backend: remembers the host data it was made from. */
class FakeDeviceTensor implements DeviceTensor {
  readonly location = 'device';
  disposed = false;
  constructor(readonly source: HostTensor) {}
  get type() {
    return this.source.type;
  }
  get dims() {
    return this.source.dims;
  }
  dispose(): void {
    this.disposed = true;
  }
}

/**
 * A backend whose "UNet" echoes its sample and records what each run was fed (host or device, per input);
 * `device` decides whether it keeps tensors on a device; `ok` lists providers that fail to load.
 */
function fakeBackend(device: boolean, ok: Partial<Record<string, boolean>> = {}) {
  const fed: Record<string, 'host' | 'device'>[] = [];
  const backend: InferenceBackend = {
    listProviders: () => ['cpu', 'webgpu'],
    async createSession(model, options: SessionOptions): Promise<RawSession> {
      if (ok[options.executionProvider] === false) throw new Error('no adapter');
      const probe = typeof model !== 'string';
      return {
        inputs: probe ? [] : UNET_INPUTS,
        outputs: probe ? [] : [{ name: 'out_sample', type: 'float32', shape: ['batch', 4, 'h', 'w'] }],
        async run(feeds, _fetches, deviceFeeds): Promise<Record<string, HostTensor>> {
          if (probe) {
            const [a, b] = [feeds['a']!.data as Float32Array, feeds['b']!.data as Float32Array];
            return { c: { type: 'float32', data: a.map((v, i) => v + b[i]!), dims: [4] } };
          }
          const where = (names: object, place: 'host' | 'device') => Object.keys(names).map((k) => [k, place]);
          fed.push(Object.fromEntries([...where(feeds, 'host'), ...where(deviceFeeds ?? {}, 'device')]));
          const sample = feeds['sample']!;
          return { out_sample: { type: 'float32', data: sample.data.slice(), dims: sample.dims } };
        },
        release: async () => {},
      };
    },
    ...(device
      ? {
          keepsTensorsOnDevice: (provider) => provider === 'webgpu',
          upload: async (tensor: HostTensor) => new FakeDeviceTensor(tensor),
        }
      : {}),
  };
  return { backend, fed };
}

describe('device residency in the runtime and the UNet runner', () => {
  const temp = makeTempDir('pinhole-device-');
  afterAll(temp.cleanup);
  const unetFile = path.join(temp.dir, 'unet.onnx');
  writeFileSync(unetFile, 'fake');
  const cond = { encoderHiddenStates: new Float32Array(2 * 5 * 3).fill(0.5), tokens: 5, channels: 3 };
  const sample = new Float32Array(2 * 4 * 2 * 2);

  it('uploads in the declared type once, feeds from the device every step, counts and frees', async () => {
    const { backend, fed } = fakeBackend(true);
    const runtime = new Runtime({ backend, provider: 'webgpu', cacheDir: temp.dir });
    expect(await runtime.keepsTensorsOnDevice()).toBe(true);
    const unet = new UNetRunner(await runtime.session(unetFile));
    const device = (await unet.upload(cond, 2, (t) => runtime.upload(t)))!;
    expect(Object.keys(device)).toEqual(['encoder_hidden_states']);
    expect(device['encoder_hidden_states']).toMatchObject({ type: 'float16', dims: [2, 5, 3] });
    for (let step = 0; step < 3; step++) await unet.predict(sample, [2, 4, 2, 2], 500, { ...cond, device });
    expect(fed.map((f) => f['encoder_hidden_states'])).toEqual(['device', 'device', 'device']);
    expect(fed.every((f) => f['sample'] === 'host' && f['timestep'] === 'host')).toBe(true);
    expect(runtime.deviceCounters).toEqual({ uploads: 1, uploadedBytes: 2 * 5 * 3 * 2, deviceFeeds: 3, live: 1 });
    // A UNet batch other than the uploaded one (never the case in the pipeline) falls back to host rows.
    await unet.predict(sample.subarray(0, 16), [1, 4, 2, 2], 500, { ...cond, device });
    expect(fed.at(-1)!['encoder_hidden_states']).toBe('host');
    for (const tensor of Object.values(device)) tensor.dispose();
    for (const tensor of Object.values(device)) tensor.dispose(); // idempotent
    expect(runtime.deviceCounters.live).toBe(0);
  });

  it('keeps everything on the host on the CPU provider', async () => {
    const { backend, fed } = fakeBackend(true);
    const runtime = new Runtime({ backend, provider: 'cpu', cacheDir: temp.dir });
    expect(await runtime.keepsTensorsOnDevice()).toBe(false);
    await expect(runtime.upload({ type: 'float32', data: new Float32Array(1), dims: [1] })).rejects.toMatchObject({
      code: 'INTERNAL',
    });
    const unet = new UNetRunner(await runtime.session(unetFile));
    await unet.predict(sample, [2, 4, 2, 2], 500, cond);
    expect(fed).toEqual([{ sample: 'host', timestep: 'host', encoder_hidden_states: 'host' }]);
    expect(runtime.deviceCounters).toEqual({ uploads: 0, uploadedBytes: 0, deviceFeeds: 0, live: 0 });
  });

  it('refuses a device feed of the wrong type', async () => {
    const { backend } = fakeBackend(true);
    const runtime = new Runtime({ backend, provider: 'webgpu', cacheDir: temp.dir });
    const session = await runtime.session(unetFile);
    const wrong = await runtime.upload({ type: 'float32', data: new Float32Array(30), dims: [2, 5, 3] });
    await expect(
      session.run({
        sample: { type: 'float32', data: sample, dims: [2, 4, 2, 2] },
        timestep: { type: 'int64', data: BigInt64Array.of(1n, 1n), dims: [2] },
        encoder_hidden_states: wrong,
      }),
    ).rejects.toThrow(/device feed "encoder_hidden_states" is float32, not float16/);
    wrong.dispose();
  });
});

describe('software WebGPU adapters', () => {
  it('are skipped when probing, with the reason, and used when forced', async () => {
    const { backend } = fakeBackend(false, { cuda: false });
    const probed = await selectExecutionProvider(backend, {
      platform: 'linux',
      force: undefined,
      gpuDevicePresent: () => false,
    });
    expect(probed.provider).toBe('cpu');
    expect(probed.attempts[1]).toMatchObject({ provider: 'webgpu', ok: false });
    expect(probed.attempts[1]!.reason).toMatch(/software adapter.*PINHOLE_EP=webgpu/);
    const withGpu = await selectExecutionProvider(backend, {
      platform: 'linux',
      force: undefined,
      gpuDevicePresent: () => true,
    });
    expect(withGpu.provider).toBe('webgpu');
    const forced = await selectExecutionProvider(backend, {
      platform: 'linux',
      force: 'webgpu',
      gpuDevicePresent: () => false,
    });
    expect(forced).toMatchObject({ provider: 'webgpu', forced: true });
  });
});

describe('hand-encoded models', () => {
  it('the upload model is an Identity ONNX Runtime loads, for any shape', async () => {
    const ort = await import('onnxruntime-node');
    for (const type of ['float32', 'float16'] as const) {
      const session = await ort.InferenceSession.create(identityModelBytes(type));
      expect(session.inputMetadata[0]).toMatchObject({ name: 'x', type });
      const data = type === 'float32' ? Float32Array.of(1, 2, 3, 4, 5, 6) : Uint16Array.of(1, 2, 3, 4, 5, 6);
      const { y } = await session.run({ x: new ort.Tensor(type, data, [2, 1, 3]) });
      expect(y!.dims).toEqual([2, 1, 3]);
      expect(Array.from(y!.data as ArrayLike<number>)).toEqual([1, 2, 3, 4, 5, 6]);
      await session.release();
    }
  });
});

describe('preview PNGs', () => {
  it('decode (by sharp) to exactly the pixels encoded, for odd sizes', async () => {
    const latents = Float32Array.from({ length: 4 * 7 * 13 }, (_, i) => Math.sin(i * 1.7) * 2);
    const image = latentToRgb(latents, [1, 4, 7, 13]);
    const url = await rgbToPngDataUrl(image);
    const png = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([13, 7, 3]);
    expect(Buffer.from(data).equals(Buffer.from(image.data))).toBe(true);
  });
});
