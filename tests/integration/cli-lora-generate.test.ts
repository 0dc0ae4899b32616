/**
 * `pinhole generate --lora FILE[:WEIGHT]` against `sd15-tiny/training/lora-ddim.rgb` (diffusers' DDIM loop with
 * `style.safetensors` merged at its multiplier), and the error for a LoRA key that matches nothing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLoraArg } from '../../src-main/cli/commands/generate';
import { readKohyaLora, writeKohyaLora } from '../../src-main/engine/lora';
import { runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { expectCliReferenceImage, generateArgs, type ReferenceRun } from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

type GenerateCase = Omit<ReferenceRun, 'scheduler'> & { lora: string; multiplier: number; scheduler: string };
const gen = (JSON.parse(readFileSync(fixture('sd15-tiny/training/train.json'), 'utf8')) as { generate: GenerateCase })
  .generate;
const STYLE = fixture('sd15-tiny/training', gen.lora);

describe('pinhole generate --lora', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeAll(() => (tmp = makeTempDir('pinhole-cli-lora-')));
  afterAll(() => tmp.cleanup());

  it('parses FILE[:WEIGHT]', () => {
    expect(parseLoraArg('a/b.safetensors')).toEqual({ path: path.resolve('a/b.safetensors'), weight: 1 });
    expect(parseLoraArg('b.safetensors:0.8')).toEqual({ path: path.resolve('b.safetensors'), weight: 0.8 });
    expect(parseLoraArg('b.safetensors:-1.5')).toEqual({ path: path.resolve('b.safetensors'), weight: -1.5 });
    expect(parseLoraArg('C:\\loras\\b.safetensors').weight).toBe(1);
  });

  it(`reproduces lora-ddim.rgb with --lora style.safetensors:${gen.multiplier}`, async () => {
    const out = path.join(tmp.dir, 'lora.png');
    const run = { ...gen, negative_prompt: gen.negative_prompt };
    const result = await runCli(
      generateArgs(run, {
        model: fixture('sd15-tiny'),
        out,
        dataDir: path.join(tmp.dir, 'home'),
        extra: ['--lora', `${STYLE}:${gen.multiplier}`],
      }),
      { PINHOLE_ENGINE_CACHE: path.join(tmp.dir, 'cache') },
    );
    const text = await expectCliReferenceImage(
      result,
      out,
      run,
      fixture('sd15-tiny/training', gen.image_rgb8),
      'pinhole generate --lora style',
    );
    expect(text).toMatch(/Lora hashes: "style: [0-9a-f]{12}"/);
  });

  it('fails naming a LoRA key that matches nothing in the model', async () => {
    const lora = await readKohyaLora(STYLE);
    const [first] = lora.modules.values();
    const name = 'lora_unet_up_blocks_7_attentions_0_proj_out';
    lora.modules.set(name, { ...first!, name });
    const bad = path.join(tmp.dir, 'bad.safetensors');
    await writeKohyaLora(bad, lora);
    const result = await runCli(
      [
        'generate',
        '--model',
        fixture('sd15-tiny'),
        '--prompt',
        'x',
        '--steps',
        '2',
        '--width',
        '64',
        '--height',
        '64',
        '--lora',
        bad,
        '--data-dir',
        path.join(tmp.dir, 'home'),
      ],
      { PINHOLE_ENGINE_CACHE: path.join(tmp.dir, 'cache') },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(name);
  });
});
