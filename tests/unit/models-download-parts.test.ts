/** The download module's small parts: URL rules, backoff, speed, file names, the catalogue, tokens. */
import { describe, expect, it } from 'vitest';
import { PinholeError } from '../../src-shared/errors';
import {
  findCatalogueEntry,
  loadCatalogue,
  MemoryTokenStore,
  normalizeTokenHost,
} from '../../src-main/models/download';
import { parseCatalogue } from '../../src-main/models/download/catalogue';
import { fileNameFromUrl } from '../../src-main/models/download/download-job';
import { checkDownloadUrl, checkRedirect, isLoopbackHost } from '../../src-main/models/download/download-url';
import { parseRetryAfter } from '../../src-main/models/download/range-request';
import { backoffDelay, DEFAULT_RETRY_POLICY } from '../../src-main/models/download/retry-policy';
import { SpeedMeter } from '../../src-main/models/download/speed-meter';

describe('download URLs', () => {
  it('knows loopback hosts', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of ['example.com', '128.0.0.1', '10.0.0.1', 'localhost.evil.com', '127.0.0.1.nip.io', '::2']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });

  it('takes HTTPS anywhere and plain HTTP only on loopback', () => {
    expect(checkDownloadUrl('https://huggingface.co/a/resolve/main/b.safetensors').hostname).toBe('huggingface.co');
    expect(checkDownloadUrl('http://127.0.0.1:9/x').port).toBe('9');
    expect(() => checkDownloadUrl('http://huggingface.co/x')).toThrow(/HTTPS/);
    expect(() => checkDownloadUrl('file:///etc/passwd')).toThrow(PinholeError);
    expect(() => checkDownloadUrl('not a url')).toThrow(/Not a URL/);
  });

  it('never follows a redirect from a public host onto plain HTTP, loopback included', () => {
    const hub = new URL('https://huggingface.co/m');
    expect(() => checkRedirect(hub, new URL('https://cdn-lfs.hf.co/blob'))).not.toThrow();
    expect(() => checkRedirect(hub, new URL('http://127.0.0.1/admin'))).toThrow(/plain HTTP/);
    expect(() => checkRedirect(hub, new URL('http://cdn.example/blob'))).toThrow(/HTTPS/);
    expect(() => checkRedirect(new URL('http://localhost/a'), new URL('http://127.0.0.1/b'))).not.toThrow();
  });

  it('names the file after the last path segment, made safe', () => {
    expect(fileNameFromUrl(new URL('https://h/r/resolve/main/sd_xl_base_1.0.safetensors?download=true'))).toBe(
      'sd_xl_base_1.0.safetensors',
    );
    expect(fileNameFromUrl(new URL('https://h/a/My%20Model%20(v2).ckpt'))).toBe('My_Model_v2_.ckpt');
    // Separators never survive, and the name never starts with a dot.
    expect(fileNameFromUrl(new URL('https://h/..%2F..%2Fetc%2Fpasswd'))).toBe('_.._etc_passwd');
    expect(fileNameFromUrl(new URL('https://h/.hidden'))).toBe('hidden');
    expect(fileNameFromUrl(new URL('https://h/'))).toBe('model.safetensors');
  });
});

describe('retries and speed', () => {
  it('backs off exponentially with full jitter, capped', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(policy, n, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(200);
  });

  it('reads Retry-After as seconds or as a date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(undefined, now)).toBeNull();
  });

  it('smooths the speed over time and derives the ETA from it', () => {
    let now = 0;
    const meter = new SpeedMeter(() => now);
    expect(meter.update(0)).toBe(0);
    // A steady 1 MB/s in 100 ms steps converges on 1 MB/s.
    for (let i = 1; i <= 100; i++) {
      now = i * 100;
      meter.update(i * 100_000);
    }
    const steady = meter.update(100 * 100_000);
    expect(steady).toBeCloseTo(1_000_000, -3);
    expect(meter.eta(10_000_000, 20_000_000)).toBeCloseTo(10_000, -2);
    // One stalled second moves the estimate, but smoothly: by 1 − e^(−1/3) of the gap, not all the way to zero.
    now += 1000;
    const afterStall = meter.update(100 * 100_000);
    expect(afterStall).toBeCloseTo(1_000_000 * Math.exp(-1 / 3), -3);
    expect(meter.eta(1, null)).toBeNull();
  });
});

describe('the catalogue', () => {
  it('ships the curated models with https URLs, licenses and only published hashes', () => {
    const entries = loadCatalogue();
    expect(entries.map((e) => e.id)).toEqual([
      'sd15',
      'sd21',
      'sdxl-base',
      'sd-turbo',
      'sdxl-turbo',
      'lcm-lora-sd15',
      'lcm-lora-sdxl',
    ]);
    for (const e of entries) {
      expect(e.url).toMatch(/^https:\/\/huggingface\.co\/.+\/resolve\/main\/.+\.safetensors$/);
      expect(e.license.name.length).toBeGreaterThan(0);
      // A hash and a size come together from a source, or the entry says why not.
      expect(e.sha256 === null || e.sizeBytes !== null, e.id).toBe(true);
      if (e.sha256 === null) expect(e.source).toMatch(/unverified/);
    }
    expect(findCatalogueEntry('sd15')).toMatchObject({
      sha256: '6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa',
      sizeBytes: 4_265_146_304,
    });
    expect(() => findCatalogueEntry('sd99')).toThrow(/No model "sd99"/);
  });

  it('rejects a broken catalogue naming the field, and duplicate ids', () => {
    const good = { version: 1, models: loadCatalogue().slice(0, 1) };
    expect(() => parseCatalogue({ ...good, models: [{ ...good.models[0], url: 'http://x/y' }] })).toThrow(/url/);
    expect(() => parseCatalogue({ ...good, models: [good.models[0], good.models[0]] })).toThrow(/twice/);
    expect(() => parseCatalogue({ ...good, models: [{ ...good.models[0], sha256: 'ABC' }] })).toThrow(/sha256/);
  });
});

describe('headless token store', () => {
  it('takes the Hugging Face token from PINHOLE_HF_TOKEN for both HF host names, and keeps others in memory', async () => {
    const store = new MemoryTokenStore({ PINHOLE_HF_TOKEN: ' hf_abc ' });
    expect(await store.get('huggingface.co')).toBe('hf_abc');
    expect(await store.get('HF.co')).toBe('hf_abc');
    expect(await store.get('cdn-lfs.huggingface.co')).toBeNull();
    await store.set('https://Civitai.com/', 'tok');
    expect(await store.get('civitai.com')).toBe('tok');
    expect(await store.list()).toEqual([
      { host: 'huggingface.co', source: 'environment' },
      { host: 'hf.co', source: 'environment' },
      { host: 'civitai.com', source: 'session' },
    ]);
    expect(await store.delete('civitai.com')).toBe(true);
    expect(await store.get('civitai.com')).toBeNull();
    expect(normalizeTokenHost(' HuggingFace.co ')).toBe('huggingface.co');
  });
});
