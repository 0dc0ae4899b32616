/**
 * Reading A1111 infotexts (the PNG `parameters` chunk) into settings the studio can run: A1111-formatted texts as
 * A1111 writes them (multiline prompts and negative prompts, quoted values, 1.9's `Schedule type`, hires fix),
 * what cannot be carried over, and finding the model it names in the library.
 */
import { describe, expect, it } from 'vitest';
import { findInfotextModel, requestFromInfotext, settingsFromInfotext, type ModelEntry } from '../../src-shared/api';

/** A1111 1.6: multiline prompt with a LoRA tag, multiline negative prompt, quoted hash lists, clip skip. */
const A1111_16 = [
  'masterpiece, best quality, 1girl,',
  'looking at viewer, (detailed eyes:1.2)',
  '<lora:add_detail:0.5>',
  'Negative prompt: (worst quality, low quality:1.4), EasyNegative,',
  'bad hands',
  'Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 2893748263, Size: 512x768, Model hash: 6ce0161689, ' +
    'Model: v1-5-pruned-emaonly, Clip skip: 2, Lora hashes: "add_detail: 7c6bad76eb54", ' +
    'TI hashes: "EasyNegative: c74b4e810b03", Version: v1.6.0',
].join('\n');

/** A1111 1.10: the sampler and its schedule type apart; noise drawn on the CPU. */
const A1111_110 = [
  'a photo of an astronaut riding a horse on mars',
  'Negative prompt: lowres, blurry',
  'Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 1234567890, Size: 1024x1024, ' +
    'Model hash: 31e35c80fc, Model: sd_xl_base_1.0, RNG: CPU, Version: v1.10.1',
].join('\n');

describe('settingsFromInfotext', () => {
  it('reads an A1111 1.6 infotext: multiline prompts, the negative prompt, every setting', () => {
    const settings = settingsFromInfotext(A1111_16);
    expect(settings).toEqual({
      prompt: 'masterpiece, best quality, 1girl,\nlooking at viewer, (detailed eyes:1.2)\n<lora:add_detail:0.5>',
      negativePrompt: '(worst quality, low quality:1.4), EasyNegative,\nbad hands',
      sampler: 'dpmpp_2m_karras',
      steps: 28,
      cfgScale: 7,
      seed: '2893748263',
      width: 512,
      height: 768,
      clipSkip: 2,
      modelName: 'v1-5-pruned-emaonly',
      modelHash: '6ce0161689',
      notes: ['A1111 drew this noise on the GPU; the same seed gives a different image here (CPU generator).'],
    });
  });

  it('joins A1111 1.9+ sampler and schedule type, and knows Karras is 1.9+ DPM++ 2M’s default', () => {
    expect(settingsFromInfotext(A1111_110)).toMatchObject({
      prompt: 'a photo of an astronaut riding a horse on mars',
      negativePrompt: 'lowres, blurry',
      sampler: 'dpmpp_2m_karras',
      cfgScale: 5.5,
      width: 1024,
      height: 1024,
      notes: [],
    });
    const automatic = A1111_110.replace('Schedule type: Karras, ', '');
    expect(settingsFromInfotext(automatic)?.sampler).toBe('dpmpp_2m_karras');
    // Before 1.9, DPM++ 2M was the uniform schedule; so is an explicit "Uniform".
    expect(settingsFromInfotext(automatic.replace('v1.10.1', 'v1.6.0'))?.sampler).toBe('dpmpp_2m');
    expect(settingsFromInfotext(A1111_110.replace('Karras', 'Uniform'))?.sampler).toBe('dpmpp_2m');
    const exponential = settingsFromInfotext(A1111_110.replace('Karras', 'Exponential'));
    expect(exponential?.sampler).toBe('dpmpp_2m');
    expect(exponential?.notes).toEqual([expect.stringContaining('“Exponential” is not available')]);
  });

  it('maps every sampler A1111 shares with the engine, and notes one it does not have', () => {
    const withSampler = (name: string) =>
      settingsFromInfotext(`a cat\nSteps: 20, Sampler: ${name}, CFG scale: 7, Seed: 1, Size: 512x512`);
    expect(['Euler', 'Euler a', 'DDIM', 'Heun', 'LCM', 'DPM++ 2M Karras'].map((n) => withSampler(n)?.sampler)).toEqual([
      'euler',
      'euler_a',
      'ddim',
      'heun',
      'lcm',
      'dpmpp_2m_karras',
    ]);
    const sde = withSampler('DPM++ SDE Karras');
    expect(sde?.sampler).toBeUndefined();
    expect(sde?.notes).toEqual([
      "The sampler “DPM++ SDE Karras” is not available here; the model's default sampler is used.",
    ]);
  });

  it('notes hires fix and img2img, and leaves out values the studio cannot take', () => {
    const hires = settingsFromInfotext(
      'a castle\nSteps: 600, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 500x512, Denoising strength: 0.7, ' +
        'Clip skip: 2, Hires upscale: 2, Hires upscaler: Latent, Version: v1.5.1',
    );
    expect(hires).toMatchObject({
      prompt: 'a castle',
      negativePrompt: '',
      sampler: 'euler_a',
      seed: '42',
      clipSkip: 2,
    });
    expect(hires?.steps).toBeUndefined();
    expect(hires?.width).toBeUndefined();
    expect(hires?.notes).toEqual([
      'Steps: 600 is outside what this studio takes (1–500).',
      'Size: 500x512 is not a size this studio takes (64–4096, multiples of 8).',
      'The image was upscaled with hires fix, which this studio does not do: it generates at the base size.',
      'A1111 drew this noise on the GPU; the same seed gives a different image here (CPU generator).',
    ]);
    const img2img = settingsFromInfotext(
      'x\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512, Denoising strength: 0.6',
    );
    expect(img2img?.notes).toEqual([
      'The image was made with img2img; its init image is not recorded, so this runs as txt2img.',
    ]);
  });

  it('is null for text that is not an infotext', () => {
    expect(settingsFromInfotext('')).toBeNull();
    expect(settingsFromInfotext('a photo of a cat')).toBeNull();
    expect(settingsFromInfotext('a cat\nNegative prompt: dog')).toBeNull();
    // A settings line without a seed or a size (ComfyUI-style workflows are JSON, not this).
    expect(settingsFromInfotext('a cat\nSteps: 20, Sampler: Euler, CFG scale: 7')).toBeNull();
    expect(settingsFromInfotext('{"3": {"class_type": "KSampler", "inputs": {"seed": 1}}}')).toBeNull();
  });
});

describe('the model an infotext names, and the request', () => {
  // A listed model with what matching reads; the rest of ModelEntry (which grows) does not matter here.
  const entry = (over: Partial<ModelEntry>): ModelEntry =>
    ({
      id: null,
      name: 'model',
      path: '/models/model',
      kind: 'checkpoint',
      family: 'sd1',
      variant: null,
      nativeResolution: 512,
      sizeBytes: null,
      sha256: null,
      shortHash: null,
      source: 'file',
      origin: null,
      addedAt: null,
      lastUsedAt: null,
      isDefault: false,
      error: null,
      ...over,
    }) as ModelEntry;
  const settings = settingsFromInfotext(A1111_16)!;

  it('finds it by short hash first, then by name; never a model that does not load', () => {
    const byHash = entry({ name: 'renamed', path: '/a', shortHash: '6ce0161689' });
    const byName = entry({ name: 'V1-5-Pruned-EMAonly', path: '/b' });
    expect(findInfotextModel(settings, [byName, byHash])?.path).toBe('/a');
    expect(findInfotextModel(settings, [byName])?.path).toBe('/b');
    expect(findInfotextModel(settings, [entry({ name: 'v1-5-pruned-emaonly', error: 'broken' })])).toBeUndefined();
    expect(findInfotextModel(settings, [entry({ name: 'other' })])).toBeUndefined();
    // A full SHA-256 starting with the short hash counts too.
    expect(findInfotextModel(settings, [entry({ path: '/c', sha256: `6ce0161689${'0'.repeat(54)}` })])?.path).toBe(
      '/c',
    );
  });

  it('builds a request the API accepts', () => {
    expect(requestFromInfotext(settings, 'v1-5')).toEqual({
      model: 'v1-5',
      prompt: settings.prompt,
      negativePrompt: settings.negativePrompt,
      sampler: 'dpmpp_2m_karras',
      steps: 28,
      cfgScale: 7,
      seed: '2893748263',
      width: 512,
      height: 768,
      clipSkip: 2,
    });
  });
});
