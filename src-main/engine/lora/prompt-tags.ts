/**
 * A1111's extra-network tags in prompts (`modules/extra_networks.py`): `<lora:NAME>`, `<lora:NAME:WEIGHT>`,
 * `<lora:NAME:TE_WEIGHT:UNET_WEIGHT>`, the named forms `te=` / `unet=`, and `<lyco:…>` (the LyCORIS
 * extension's alias for the same thing). A1111 removes every tag from the text before anything else reads it
 * (prompt weighting, tokenizing), in the prompt and in the negative prompt alike.
 */
import { PinholeError } from '../../../src-shared/errors';

/** One `<lora:…>` tag of a prompt. */
export type PromptLoraTag = {
  /** The LoRA's name as written (A1111: the file name without extension, or its alias). */
  readonly name: string;
  /** The text-encoder multiplier (A1111's `te`, the first number; 1 when absent). */
  readonly weight: number;
  /** The UNet multiplier (the second number or `unet=`); absent when it equals `weight`. */
  readonly unetWeight?: number;
  /** The tag as written, for error messages. */
  readonly tag: string;
};

// A1111's `re_extra_net` (Python's `\w` is Unicode letters, numbers and underscore).
const EXTRA_NETWORK = /<([\p{L}\p{N}_]+):([^>]+)>/gu;

const LORA_KINDS = new Set(['lora', 'lyco']);

/** The text with every extra-network tag removed, as A1111 passes it on to prompt weighting and the tokenizer. */
export function stripNetworkTags(text: string): string {
  return text.replace(EXTRA_NETWORK, '');
}

/**
 * The `<lora:…>` / `<lyco:…>` tags of a prompt, in order.
 * @throws PinholeError `INVALID_PARAMS` naming the tag for a weight that is not a number, an empty name, an
 *   argument we do not support (`dyn=`), or an extra network of another kind (`<hypernet:…>`): A1111 would skip
 *   those with a console warning, which a user never sees; here they are an error.
 */
export function parseLoraTags(text: string): PromptLoraTag[] {
  const tags: PromptLoraTag[] = [];
  for (const match of text.matchAll(EXTRA_NETWORK)) {
    const [tag, kind, args] = match as unknown as [string, string, string];
    if (!LORA_KINDS.has(kind)) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${tag}: "${kind}" extra networks are not supported (only <lora:NAME:WEIGHT> and <lyco:…>)`,
      );
    }
    tags.push(parseLoraArgs(tag, args.split(':')));
  }
  return tags;
}

/** A1111's `extra_networks_lora.activate`: positional `te`, `unet`, or named `te=` / `unet=`. */
function parseLoraArgs(tag: string, items: readonly string[]): PromptLoraTag {
  const name = items[0]!.trim();
  if (name === '') throw new PinholeError('INVALID_PARAMS', `${tag}: the LoRA name is empty`);
  const positional: string[] = [];
  const named = new Map<string, string>();
  for (const item of items.slice(1)) {
    const eq = item.indexOf('=');
    if (eq < 0) positional.push(item);
    else named.set(item.slice(0, eq).trim(), item.slice(eq + 1));
  }
  for (const key of named.keys()) {
    if (key !== 'te' && key !== 'unet') {
      throw new PinholeError('INVALID_PARAMS', `${tag}: the argument "${key}=" is not supported (te=, unet=)`);
    }
  }
  if (positional.length > 2) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `${tag}: expected <lora:NAME:WEIGHT> or <lora:NAME:TE_WEIGHT:UNET_WEIGHT>`,
    );
  }
  const number = (value: string): number => {
    // Python's float(): surrounding spaces allowed, nothing else.
    const trimmed = value.trim();
    const n = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!Number.isFinite(n) || Math.abs(n) > 100) {
      throw new PinholeError('INVALID_PARAMS', `${tag}: "${value}" is not a weight (a number from -100 to 100)`);
    }
    return n;
  };
  const teText = named.get('te') ?? positional[0];
  const weight = teText === undefined ? 1 : number(teText);
  const unetText = named.get('unet') ?? positional[1];
  const unetWeight = unetText === undefined ? weight : number(unetText);
  return { name, weight, ...(unetWeight !== weight ? { unetWeight } : {}), tag };
}
