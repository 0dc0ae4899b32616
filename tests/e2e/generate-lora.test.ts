/**
 * LoRAs on the Generate page, end to end against the real headless server and engine: the tiny sd15 model and
 * `training/style.safetensors` placed in the data home's `models/` and `models/loras/` folders. Picking the LoRA
 * with its weight slider reproduces `lora-ddim.rgb` (diffusers with the LoRA merged) and differs from the image
 * without it; the infotext keeps `<lora:style:0.8>` in the prompt and lists `Lora hashes` as A1111 writes them;
 * the tag typed into the prompt instead gives the same bytes and is not counted as tokens; an embedding put in
 * `models/embeddings/` counts as its vectors and appears as `TI hashes`; "Re-run" in the gallery gives the LoRA
 * image's bytes again.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseInfotext } from '../../src-main/engine/image';
import { ClipTokenizer } from '../../src-main/engine/text';
import { writeSafetensors } from '../../src-main/engine/weights';
import { fixture } from '../helpers/fixtures';
import { expectRgbClose } from '../helpers/reference-images';
import { GalleryPage } from './pages/gallery-page';
import { GeneratePage } from './pages/generate-page';
import { byData } from './pages/selectors';
import { StudioApp } from './pages/studio-app';
import { launchBrowser, type BrowserSession } from './support/browser';
import { callInPage, decodeRgb, fetchInPage } from './support/media';
import { startStudioServer, type StudioServer } from './support/server';

const MODEL = fixture('sd15-tiny');
const TRAINING = path.join(MODEL, 'training');

type GenerateCase = {
  multiplier: number;
  prompt: string;
  negative_prompt: string;
  scheduler: string;
  steps: number;
  cfg: number;
  seed: number;
  width: number;
  height: number;
  image_rgb8: string;
};

/** A1111's LoRA hash: SHA-256 of the safetensors bytes after the header, 12 digits. */
function addnetHash(bytes: Buffer): string {
  const start = 8 + Number(bytes.readBigUInt64LE(0));
  return createHash('sha256').update(bytes.subarray(start)).digest('hex').slice(0, 12);
}

describe('Generate with LoRAs', () => {
  let work: string;
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let generate: GeneratePage;
  let gallery: GalleryPage;
  let gen: GenerateCase;
  let plainSha = '';
  let loraSha = '';

  const fillCase = () =>
    generate.fill({
      prompt: gen.prompt,
      negativePrompt: gen.negative_prompt,
      sampler: gen.scheduler,
      steps: gen.steps,
      cfgScale: gen.cfg,
      width: gen.width,
      height: gen.height,
      seed: String(gen.seed),
    });

  const generateOne = async (): Promise<string> => {
    await generate.generate();
    await generate.waitForState('succeeded');
    const [sha] = await generate.resultShas();
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    return sha!;
  };

  const parameters = async (sha256: string): Promise<string> => {
    const detail = await callInPage<{ metadata: { parameters?: string } }>(session.page, 'gallery.get', { sha256 });
    return detail.metadata.parameters ?? '';
  };

  beforeAll(async () => {
    gen = (JSON.parse(await readFile(path.join(TRAINING, 'train.json'), 'utf8')) as { generate: GenerateCase })
      .generate;
    work = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-lora-'));
    server = await startStudioServer({ env: { PINHOLE_ENGINE_CACHE: path.join(work, 'engine-cache') } });
    // Copies: the shared fixture folder is never written to.
    await cp(MODEL, path.join(server.dataDir, 'models', 'sd15-tiny'), {
      recursive: true,
      filter: (src) => !src.includes(`${path.sep}training`),
    });
    await mkdir(path.join(server.dataDir, 'models', 'loras'), { recursive: true });
    await cp(
      path.join(TRAINING, 'style.safetensors'),
      path.join(server.dataDir, 'models', 'loras', 'style.safetensors'),
    );
    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    generate = new GeneratePage(session.page);
    gallery = new GalleryPage(session.page);
    await app.open();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a LoRA picked with its weight changes the image to lora-ddim.rgb and is in the infotext', async () => {
    await app.goTo('generate');
    await expect.poll(() => generate.modelSelect().inputValue()).toContain('sd15-tiny');
    await fillCase();
    plainSha = await generateOne();

    await generate.addLora('style', gen.multiplier);
    expect(await generate.loraRow('style').getByTestId('lora-weight-value').innerText()).toBe(
      gen.multiplier.toFixed(2),
    );
    loraSha = await generateOne();
    expect(loraSha).not.toBe(plainSha);
    const png = await fetchInPage(session.page, `/media/images/${loraSha}`);
    const expected = await readFile(path.join(TRAINING, gen.image_rgb8));
    expectRgbClose((await decodeRgb(png)).data, expected, 'style LoRA from the Generate page');

    const info = parseInfotext(await parameters(loraSha));
    expect(info.prompt).toBe(`${gen.prompt} <lora:style:${gen.multiplier}>`);
    const hash = addnetHash(await readFile(path.join(TRAINING, 'style.safetensors')));
    expect(info.params['Lora hashes']).toBe(`style: ${hash}`);
    expect((await parameters(plainSha)).includes('Lora hashes')).toBe(false);
    await app.screenshot('generate-lora-picked');
  });

  test('<lora:style:0.8> typed in the prompt gives the same bytes and is not counted', async () => {
    await generate.removeLora('style');
    await generate.prompt().fill(gen.prompt);
    await expect.poll(() => generate.tokenCount('prompt').getAttribute('data-pending')).toBe('false');
    const plainCount = await generate.tokenCount('prompt').innerText();
    await generate.prompt().fill(`${gen.prompt} <lora:style:${gen.multiplier}>`);
    await expect.poll(() => generate.tokenCount('prompt').getAttribute('data-pending')).toBe('false');
    expect(await generate.tokenCount('prompt').innerText()).toBe(plainCount);
    expect(await generateOne()).toBe(loraSha);
  });

  test('an embedding in models/embeddings counts as its vectors and is listed in the infotext', async () => {
    await app.goTo('generate');
    // Three vectors 32 wide (sd15-tiny's text encoder), named by the file.
    await mkdir(path.join(server.dataDir, 'models', 'embeddings'), { recursive: true });
    const vectors = Float32Array.from({ length: 3 * 32 }, (_, i) => Math.sin(i) * 0.05);
    const file = path.join(server.dataDir, 'models', 'embeddings', 'threevec.safetensors');
    await writeSafetensors(file, [{ name: 'emb_params', dtype: 'float32', dims: [3, 32], data: vectors }]);
    const tokenizer = await ClipTokenizer.load(path.join(MODEL, 'tokenizer'));
    await generate.prompt().fill('a photo of threevec');
    await expect.poll(() => generate.tokenCount('prompt').getAttribute('data-pending')).toBe('false');
    expect(await generate.tokenCount('prompt').innerText()).toBe(`${tokenizer.encode('a photo of').length + 3}/75`);

    const sha = await generateOne();
    const hash = createHash('sha256')
      .update(await readFile(file))
      .digest('hex')
      .slice(0, 12);
    expect(parseInfotext(await parameters(sha)).params['TI hashes']).toBe(`threevec: ${hash}`);
  });

  test('"Re-run" of the LoRA image in the gallery gives the same bytes', async () => {
    await generate.prompt().fill('something else');
    const before = await generate.run().getAttribute('data-job-id');
    await app.goTo('gallery');
    await session.page.locator(`[data-testid="gallery-thumb"]${byData('sha256', loraSha)}`).click();
    const detail = gallery.detail();
    await detail.waitFor();
    await detail.getByTestId('detail-rerun').click();
    await generate.root().waitFor();
    await generate.waitForNewRun(before);
    await generate.waitForState('succeeded');
    expect(await generate.resultShas()).toEqual([loraSha]);
  });
});
