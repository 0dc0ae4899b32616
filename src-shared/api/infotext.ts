/**
 * A1111's "infotext" read back: the `parameters` text chunk A1111 (and this studio) write into PNGs,
 * ```
 * a photo of a cat
 * Negative prompt: blurry
 * Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 512x512, Model hash: 6ce0161689, Model: v1-5
 * ```
 * parsed as A1111's `parse_generation_parameters` does, then turned into generation settings this studio can run,
 * so an imported PNG can be re-run or its settings used. Shared by the engine (which writes infotexts), the
 * library (which reads the prompts of imported PNGs) and the renderer (which offers "Use settings").
 */
import { GenerateParams, type ModelEntry, type SamplerName } from './schemas';

/** A1111's display names for the engine's samplers (older combined names for Karras, which every reader maps). */
export const SAMPLER_DISPLAY_NAMES: Readonly<Record<SamplerName, string>> = {
  euler: 'Euler',
  euler_a: 'Euler a',
  ddim: 'DDIM',
  dpmpp_2m: 'DPM++ 2M',
  dpmpp_2m_karras: 'DPM++ 2M Karras',
  lcm: 'LCM',
  heun: 'Heun',
};

/** An infotext read back: the prompts and the raw `key → value` settings (values unquoted). */
export interface ParsedInfotext {
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly params: Readonly<Record<string, string>>;
}

// A1111's `re_param`: a key of word characters, spaces, dashes and slashes, then a quoted or comma-free value.
const PARAM = /\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)/g;

/** Parses an infotext as A1111's `parse_generation_parameters` does (prompt lines, negative lines, settings). */
export function parseInfotext(text: string): ParsedInfotext {
  const lines = text.trim().split('\n');
  let last = lines[lines.length - 1] ?? '';
  const params: Record<string, string> = {};
  // The last line is the settings line only when it holds at least three pairs (as in A1111).
  if ([...last.matchAll(PARAM)].length >= 3) lines.pop();
  else last = '';
  for (const match of last.matchAll(PARAM)) {
    const key = match[1]!.trim();
    const raw = match[2]!.trim();
    params[key] = raw.startsWith('"') && raw.endsWith('"') ? unquote(raw) : raw;
  }
  const prompt: string[] = [];
  const negative: string[] = [];
  let inNegative = false;
  for (const line of lines) {
    if (line.startsWith('Negative prompt:')) {
      inNegative = true;
      negative.push(line.slice('Negative prompt:'.length).trim());
    } else (inNegative ? negative : prompt).push(line);
  }
  return { prompt: prompt.join('\n').trim(), negativePrompt: negative.join('\n').trim(), params };
}

/** A JSON-quoted value (A1111's `quote`); kept as it is when it is not valid JSON. */
function unquote(raw: string): string {
  try {
    const value: unknown = JSON.parse(raw);
    return typeof value === 'string' ? value : raw;
  } catch {
    return raw;
  }
}

/** What an infotext records that this studio can generate with. Absent: not recorded, or not usable here. */
export interface InfotextSettings {
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly sampler?: SamplerName;
  readonly steps?: number;
  readonly cfgScale?: number;
  /** Decimal, 0 … 2⁶⁴ − 1. */
  readonly seed?: string;
  readonly width?: number;
  readonly height?: number;
  readonly clipSkip?: number;
  /** A1111's `Model:` (the checkpoint's file name without extension). */
  readonly modelName?: string;
  /** A1111's `Model hash:` in lower case: 10 hex digits of the file's SHA-256 (8 for A1111's old hash). */
  readonly modelHash?: string;
  /** Recorded settings that cannot be carried over, one sentence each (the UI lists them). */
  readonly notes: readonly string[];
}

/** A1111 samplers by display name, before schedule types; Karras is handled with `Schedule type`. */
const SAMPLERS_BY_NAME: Readonly<Record<string, SamplerName>> = Object.fromEntries(
  Object.entries(SAMPLER_DISPLAY_NAMES).map(([ours, display]) => [display.toLowerCase(), ours as SamplerName]),
);

const U64_MAX = (1n << 64n) - 1n;

/** A1111's version from `Version: v1.9.4` (or `f0.0.17v1.8.0rc…` for Forge), as [major, minor]. */
function version(value: string | undefined): [number, number] | undefined {
  const match = /v(\d+)\.(\d+)/.exec(value ?? '');
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

/**
 * The sampler of an infotext. A1111 1.9 split "DPM++ 2M Karras" into `Sampler: DPM++ 2M` and `Schedule type:
 * Karras`, and made Karras the automatic schedule of DPM++ 2M (`samplers_k_diffusion`: `{'scheduler':
 * 'karras'}`), so a 1.9+ "DPM++ 2M" without a schedule type is Karras too; before 1.9 it was the uniform one.
 */
function samplerOf(params: Readonly<Record<string, string>>, notes: string[]): SamplerName | undefined {
  const name = params['Sampler'];
  if (name === undefined) return undefined;
  const schedule = params['Schedule type'];
  let sampler = SAMPLERS_BY_NAME[name.toLowerCase()];
  if (sampler === undefined) {
    notes.push(`The sampler “${name}” is not available here; the model's default sampler is used.`);
    return undefined;
  }
  const automatic = schedule === undefined || schedule === 'Automatic';
  if (sampler === 'dpmpp_2m') {
    const v = version(params['Version']);
    const karrasByDefault = v !== undefined && (v[0] > 1 || (v[0] === 1 && v[1] >= 9));
    if (schedule === 'Karras' || (automatic && karrasByDefault)) sampler = 'dpmpp_2m_karras';
    else if (!automatic && schedule !== 'Uniform') {
      notes.push(`The schedule type “${schedule}” is not available here; DPM++ 2M's uniform schedule is used.`);
    }
  } else if (!automatic && !(sampler === 'dpmpp_2m_karras' && schedule === 'Karras') && schedule !== 'Uniform') {
    notes.push(`The schedule type “${schedule}” is not available for ${name}; its usual schedule is used.`);
  }
  return sampler;
}

/** An integer in [min, max], or undefined (with a note) when the value is something else. */
function integerParam(
  params: Readonly<Record<string, string>>,
  key: string,
  min: number,
  max: number,
  notes: string[],
): number | undefined {
  const raw = params[key];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (/^\d+$/.test(raw) && value >= min && value <= max) return value;
  notes.push(`${key}: ${raw} is outside what this studio takes (${min}–${max}).`);
  return undefined;
}

/**
 * The settings an A1111 infotext records, or null when `text` is not one (no settings line with `Steps`, a seed
 * and a size, as every A1111 image has). Values this studio cannot take are left out with a note.
 */
export function settingsFromInfotext(text: string): InfotextSettings | null {
  const parsed = parseInfotext(text);
  const { params } = parsed;
  if (params['Steps'] === undefined || params['Seed'] === undefined || params['Size'] === undefined) return null;
  const notes: string[] = [];
  const steps = integerParam(params, 'Steps', 1, 500, notes);
  const sampler = samplerOf(params, notes);
  const cfgRaw = params['CFG scale'];
  const cfg = cfgRaw === undefined || cfgRaw.trim() === '' ? undefined : Number(cfgRaw);
  let cfgScale: number | undefined;
  if (cfg !== undefined && Number.isFinite(cfg) && cfg >= 0 && cfg <= 50) cfgScale = cfg;
  else if (cfgRaw !== undefined) notes.push(`CFG scale: ${cfgRaw} is outside what this studio takes (0–50).`);
  const seedRaw = params['Seed'];
  const seed = /^\d{1,20}$/.test(seedRaw) && BigInt(seedRaw) <= U64_MAX ? seedRaw : undefined;
  if (seed === undefined) notes.push(`Seed: ${seedRaw} is not a seed this studio takes; a random one is used.`);
  const size = /^(\d+)x(\d+)$/.exec(params['Size']);
  const side = (value: string | undefined) => {
    const n = Number(value);
    return Number.isInteger(n) && n >= 64 && n <= 4096 && n % 8 === 0 ? n : undefined;
  };
  const [width, height] = [side(size?.[1]), side(size?.[2])];
  if (width === undefined || height === undefined) {
    notes.push(`Size: ${params['Size']} is not a size this studio takes (64–4096, multiples of 8).`);
  }
  const clipSkip = integerParam(params, 'Clip skip', 1, 12, notes);
  const hash = params['Model hash']?.toLowerCase();
  if (params['Hires upscale'] !== undefined || params['Hires resize-1'] !== undefined) {
    notes.push('The image was upscaled with hires fix, which this studio does not do: it generates at the base size.');
  } else if (params['Denoising strength'] !== undefined) {
    notes.push('The image was made with img2img; its init image is not recorded, so this runs as txt2img.');
  }
  // A1111 writes its version; it draws the noise on the GPU unless "RNG: CPU" says otherwise.
  if (params['Version'] !== undefined && params['RNG'] !== 'CPU') {
    notes.push('A1111 drew this noise on the GPU; the same seed gives a different image here (CPU generator).');
  }
  return {
    prompt: parsed.prompt,
    negativePrompt: parsed.negativePrompt,
    ...(sampler !== undefined ? { sampler } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(cfgScale !== undefined ? { cfgScale } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(width !== undefined && height !== undefined ? { width, height } : {}),
    ...(clipSkip !== undefined ? { clipSkip } : {}),
    ...(params['Model'] ? { modelName: params['Model'] } : {}),
    ...(hash && /^[0-9a-f]{8,64}$/.test(hash) ? { modelHash: hash } : {}),
    notes,
  };
}

/**
 * The library checkpoint an infotext names: by `Model hash` (A1111's short hash, the first 10 hex digits of the
 * SHA-256), else by `Model` name (case-insensitive). Only models that load (`error === null`) are considered.
 */
export function findInfotextModel(settings: InfotextSettings, models: readonly ModelEntry[]): ModelEntry | undefined {
  const usable = models.filter((m) => m.error === null && m.kind === 'checkpoint');
  const hash = settings.modelHash;
  const byHash = hash
    ? usable.find((m) => m.shortHash?.toLowerCase() === hash || m.sha256?.toLowerCase().startsWith(hash))
    : undefined;
  if (byHash) return byHash;
  const name = settings.modelName?.toLowerCase();
  return name ? usable.find((m) => m.name.toLowerCase() === name) : undefined;
}

/** A generate request from infotext settings and the model folder or library name to run them with. */
export function requestFromInfotext(settings: InfotextSettings, model: string): GenerateParams | null {
  const parsed = GenerateParams.safeParse({
    model,
    prompt: settings.prompt,
    ...(settings.negativePrompt ? { negativePrompt: settings.negativePrompt } : {}),
    sampler: settings.sampler,
    steps: settings.steps,
    cfgScale: settings.cfgScale,
    seed: settings.seed,
    width: settings.width,
    height: settings.height,
    clipSkip: settings.clipSkip,
  });
  return parsed.success ? parsed.data : null;
}
