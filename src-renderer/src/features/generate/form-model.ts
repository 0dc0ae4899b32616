/**
 * The Generate form as plain data: its fields (numbers kept as the text the user typed, so
 * half-typed values are not fought over), the checks that decide whether Generate is enabled,
 * and the conversions to and from a `GenerateParams` request. A blank number field means
 * "the model's default" and is left out of the request, so a request round-trips exactly.
 */
import {
  GenerateParams,
  SamplerName,
  type GenerateParams as Request,
  type ImageRef,
} from '../../../../src-shared/api/schemas';

/** Samplers in the order the picker lists them, with the names A1111 users know. */
export const SAMPLERS: readonly { value: SamplerName; label: string }[] = [
  { value: 'euler_a', label: 'Euler a' },
  { value: 'euler', label: 'Euler' },
  { value: 'dpmpp_2m', label: 'DPM++ 2M' },
  { value: 'dpmpp_2m_karras', label: 'DPM++ 2M Karras' },
  { value: 'ddim', label: 'DDIM' },
  { value: 'heun', label: 'Heun' },
  { value: 'lcm', label: 'LCM' },
];

/** An img2img / inpainting source image as the form holds it. */
export type InitImage = {
  ref: ImageRef;
  /** The file name, or the stored path's last part. */
  name: string;
  /** Something an <img> can show; null when only a path on the core's machine is known. */
  src: string | null;
  /** Pixel size once known (the mask canvas uses it); null for a path the page cannot open. */
  width: number | null;
  height: number | null;
  /** The original size when the file had to be re-encoded smaller to fit the upload limit. */
  resizedFrom: { width: number; height: number } | null;
};

/** A LoRA chosen in the picker: its file, the name shown, and its multiplier. */
export type FormLora = { path: string; name: string; weight: number };

/** The LoRA picker's weight range (A1111's usual; `<lora:…>` tags in the prompt may go further). */
export const LORA_WEIGHT = { min: -2, max: 2, step: 0.05 } as const;

/** The fields persisted across reloads (everything but the images). */
export type FormValues = {
  model: string;
  prompt: string;
  negativePrompt: string;
  /** '' = the model's recommended sampler. */
  sampler: SamplerName | '';
  steps: string;
  cfgScale: string;
  width: string;
  height: string;
  /** `random` leaves the seed out and the core picks one. */
  seedMode: 'random' | 'fixed';
  seed: string;
  batchSize: string;
  batchCount: string;
  clipSkip: string;
  /** img2img / inpainting only. */
  strength: number;
  /** LoRAs from the picker (besides any `<lora:…>` tags typed into the prompts). */
  loras: FormLora[];
  /** A library VAE's file; '' = the model's own VAE. */
  vae: string;
};

/** The whole form. */
export type FormInputs = FormValues & {
  initImage: InitImage | null;
  /** White = repaint; only with an init image. */
  mask: ImageRef | null;
};

/** A fresh form: A1111's usual settings, the size left to the model. */
export const DEFAULT_VALUES: FormValues = {
  model: '',
  prompt: '',
  negativePrompt: '',
  sampler: 'euler_a',
  steps: '20',
  cfgScale: '7',
  width: '',
  height: '',
  seedMode: 'random',
  seed: '',
  batchSize: '1',
  batchCount: '1',
  clipSkip: '1',
  strength: 0.75,
  loras: [],
  vae: '',
};

export const MAX_PROMPT = 20_000;
/** The contract's limit on an inline image's data URL. */
const MAX_INLINE = 48_000_000;
/** A valid 1-byte data URL standing in for inline images while the contract checks a request. */
const PLACEHOLDER = 'data:image/png;base64,AA==';
const U64_MAX = (1n << 64n) - 1n;

/** A field that can be wrong. */
export type Field = keyof FormValues;
export type FieldErrors = Partial<Record<Field, string>>;

/** The form checked: the request to send when everything is valid, else what is wrong. */
export type Validated = { request: Request | null; errors: FieldErrors; problem: string | null };

type Parsed = { value?: number; error?: string };

function wholeNumber(raw: string, min: number, max: number, what: string): Parsed {
  const text = raw.trim();
  if (text === '') return {};
  if (!/^\d+$/.test(text)) return { error: `${what} must be a whole number` };
  const value = Number(text);
  if (value < min || value > max) return { error: `${what} must be from ${min} to ${max}` };
  return { value };
}

function decimal(raw: string, min: number, max: number, what: string): Parsed {
  const text = raw.trim();
  if (text === '') return {};
  if (!/^\d+(\.\d+)?$|^\.\d+$/.test(text)) return { error: `${what} must be a number` };
  const value = Number(text);
  if (value < min || value > max) return { error: `${what} must be from ${min} to ${max}` };
  return { value };
}

function pixelSize(raw: string, what: string): Parsed {
  const parsed = wholeNumber(raw, 64, 4096, what);
  if (parsed.value !== undefined && parsed.value % 8 !== 0) {
    const lower = Math.max(64, parsed.value - (parsed.value % 8));
    return { error: `${what} must be a multiple of 8 (try ${lower} or ${lower + 8})` };
  }
  return parsed;
}

/** Checks a seed typed by hand: 0 … 2^64 − 1. */
export function seedError(raw: string): string | null {
  const text = raw.trim();
  if (text === '') return 'Type a seed, or switch to a random one';
  if (!/^\d{1,20}$/.test(text)) return 'A seed is a whole number from 0 to 18446744073709551615';
  if (BigInt(text) > U64_MAX) return 'A seed is at most 18446744073709551615';
  return null;
}

/** Checks the form and builds the request it stands for. */
export function validateForm(form: FormInputs): Validated {
  const errors: FieldErrors = {};
  const take = (field: Field, parsed: Parsed): number | undefined => {
    if (parsed.error) errors[field] = parsed.error;
    return parsed.value;
  };
  if (form.prompt.length > MAX_PROMPT) errors.prompt = `The prompt is longer than ${MAX_PROMPT} characters`;
  if (form.negativePrompt.length > MAX_PROMPT) {
    errors.negativePrompt = `The negative prompt is longer than ${MAX_PROMPT} characters`;
  }
  const steps = take('steps', wholeNumber(form.steps, 1, 500, 'Steps'));
  const cfgScale = take('cfgScale', decimal(form.cfgScale, 0, 50, 'CFG scale'));
  const width = take('width', pixelSize(form.width, 'Width'));
  const height = take('height', pixelSize(form.height, 'Height'));
  const batchSize = take('batchSize', wholeNumber(form.batchSize, 1, 16, 'Batch size'));
  const batchCount = take('batchCount', wholeNumber(form.batchCount, 1, 100, 'Batch count'));
  const clipSkip = take('clipSkip', wholeNumber(form.clipSkip, 1, 12, 'Clip skip'));
  if (form.seedMode === 'fixed') {
    const error = seedError(form.seed);
    if (error) errors.seed = error;
  }
  const withImage = form.initImage !== null;
  if (withImage) {
    if (!(form.strength > 0 && form.strength <= 1)) {
      errors.strength = 'Denoising strength must be above 0 and at most 1';
    } else if (steps !== undefined && Math.trunc(steps * form.strength) < 1) {
      errors.strength = `${form.strength} × ${steps} steps leaves no step to run; raise the strength or the steps`;
    }
  }

  const problem = form.model === '' ? 'Choose a model first.' : null;
  if (problem || Object.keys(errors).length > 0) {
    return { request: null, errors, problem: problem ?? 'Fix the highlighted fields.' };
  }

  const request: Request = {
    model: form.model,
    prompt: form.prompt,
    ...(form.negativePrompt !== '' ? { negativePrompt: form.negativePrompt } : {}),
    ...(form.sampler !== '' ? { sampler: form.sampler } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(cfgScale !== undefined ? { cfgScale } : {}),
    ...(form.seedMode === 'fixed' ? { seed: form.seed.trim() } : {}),
    ...(width !== undefined ? { width } : {}),
    ...(height !== undefined ? { height } : {}),
    ...(batchSize !== undefined ? { batchSize } : {}),
    ...(batchCount !== undefined ? { batchCount } : {}),
    ...(clipSkip !== undefined ? { clipSkip } : {}),
    ...(form.initImage ? { strength: form.strength, initImage: form.initImage.ref } : {}),
    ...(form.initImage && form.mask ? { maskImage: form.mask } : {}),
    ...(form.loras.length > 0 ? { loras: form.loras.map(({ path, weight }) => ({ path, weight })) } : {}),
    ...(form.vae !== '' ? { vae: form.vae } : {}),
  };
  // The contract is the last word. Inline images are checked for size here and stand in as a
  // tiny placeholder there: matching its pattern against megabytes on every keystroke is slow.
  for (const ref of [request.initImage, request.maskImage]) {
    if (ref && 'dataUrl' in ref && ref.dataUrl.length > MAX_INLINE) {
      return { request: null, errors, problem: 'An inline image is too large to send (36 MB at most).' };
    }
  }
  const stand = (ref: ImageRef | undefined) => (ref && 'dataUrl' in ref ? { dataUrl: PLACEHOLDER } : ref);
  const checked = GenerateParams.safeParse({
    ...request,
    ...(request.initImage ? { initImage: stand(request.initImage) } : {}),
    ...(request.maskImage ? { maskImage: stand(request.maskImage) } : {}),
  });
  if (!checked.success) {
    return { request: null, errors, problem: checked.error.issues[0]?.message ?? 'The request is not valid.' };
  }
  return { request, errors, problem: null };
}

function text(value: number | undefined): string {
  return value === undefined ? '' : String(value);
}

function baseName(file: string): string {
  return file.split(/[\\/]/).pop() || file;
}

/** An image reference from a stored request, as the form shows it. */
export function initImageFromRef(ref: ImageRef): InitImage {
  if ('path' in ref) {
    return { ref, name: baseName(ref.path), src: null, width: null, height: null, resizedFrom: null };
  }
  return { ref, name: 'Image from the request', src: ref.dataUrl, width: null, height: null, resizedFrom: null };
}

/** The form that makes `request` again (every field it sets; blanks where it used the defaults). */
export function formFromRequest(request: Request): FormInputs {
  const init = request.initImage ? initImageFromRef(request.initImage) : null;
  return {
    model: request.model,
    prompt: request.prompt,
    negativePrompt: request.negativePrompt ?? '',
    sampler: request.sampler ?? '',
    steps: text(request.steps),
    cfgScale: text(request.cfgScale),
    width: text(request.width),
    height: text(request.height),
    seedMode: request.seed === undefined ? 'random' : 'fixed',
    seed: request.seed ?? '',
    batchSize: text(request.batchSize),
    batchCount: text(request.batchCount),
    clipSkip: text(request.clipSkip),
    // The engine's defaults when a request left it out: 1 for inpainting, 0.75 for img2img.
    strength: request.strength ?? (request.maskImage ? 1 : 0.75),
    initImage: init,
    mask: init ? (request.maskImage ?? null) : null,
    loras: (request.loras ?? []).map((l) => ({ path: l.path, name: loraName(l.path), weight: l.weight })),
    vae: request.vae ?? '',
  };
}

/** A LoRA file's name as A1111 shows it: the file name without `.safetensors`. */
export function loraName(file: string): string {
  return baseName(file).replace(/\.safetensors$/i, '');
}

function sanitizeLoras(value: unknown): FormLora[] | undefined {
  if (!Array.isArray(value)) return undefined;
  const loras = value.filter(
    (l): l is FormLora =>
      typeof l === 'object' &&
      l !== null &&
      typeof (l as FormLora).path === 'string' &&
      typeof (l as FormLora).name === 'string' &&
      typeof (l as FormLora).weight === 'number' &&
      Number.isFinite((l as FormLora).weight),
  );
  return loras.map(({ path, name, weight }) => ({ path, name, weight }));
}

/** Reads persisted values back, keeping only well-typed known fields (storage may hold anything). */
export function sanitizeValues(stored: unknown): Partial<FormValues> {
  if (typeof stored !== 'object' || stored === null) return {};
  const source = stored as Record<string, unknown>;
  const out: Partial<Record<Field, unknown>> = {};
  for (const key of Object.keys(DEFAULT_VALUES) as Field[]) {
    const value = source[key];
    if (key === 'loras') out.loras = sanitizeLoras(value);
    else if (typeof value === typeof DEFAULT_VALUES[key]) out[key] = value;
  }
  if (out.loras === undefined) delete out.loras;
  if (out.sampler !== undefined && out.sampler !== '' && !SamplerName.safeParse(out.sampler).success) {
    delete out.sampler;
  }
  if (out.seedMode !== undefined && out.seedMode !== 'random' && out.seedMode !== 'fixed') delete out.seedMode;
  return out as Partial<FormValues>;
}

/** A1111's prompt box counter: tokens over the chunk size they fill (75, 150, …). */
export function tokenLimit(count: number): number {
  return Math.max(75, Math.ceil(count / 75) * 75);
}
