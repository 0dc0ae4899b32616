import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PinholeError } from '../../../src-shared/errors';
import { BYTE_ORDER, BYTE_TO_CHAR } from './bytes-to-unicode';
import { END_OF_WORD } from './bpe-model';

/**
 * Reading CLIP tokenizer files: a Hugging Face `tokenizer/` folder (`vocab.json`, `merges.txt`,
 * `tokenizer_config.json`, `special_tokens_map.json`) or OpenAI's `bpe_simple_vocab_16e6.txt.gz`, from which
 * the folder's files are derived.
 */

/** A BPE vocabulary and its merges in rank order. */
export type BpeFiles = {
  vocab: Map<string, number>;
  merges: [string, string][];
};

/** What the tokenizer config decides: the special tokens and the padded length. */
export type TokenizerSettings = {
  /** Length of a padded sequence, start and end tokens included (77 for every Stable Diffusion CLIP). */
  maxLength: number;
  bosToken: string;
  eosToken: string;
  /** `<|endoftext|>` for SD 1.x/2.x's first tokenizer, `!` for SDXL's `tokenizer_2`. */
  padToken: string;
};

/** CLIP's own settings, used where a config is absent or silent. */
export const CLIP_SETTINGS: Readonly<TokenizerSettings> = {
  maxLength: 77,
  bosToken: '<|startoftext|>',
  eosToken: '<|endoftext|>',
  padToken: '<|endoftext|>',
};

/** CLIP's merge count: 49152 tokens less the 256 bytes and 2 special tokens (the gz holds many more lines). */
export const CLIP_MERGE_COUNT = 49152 - 256 - 2;

/** Parses `vocab.json` (token → id). */
export function parseVocabJson(text: string): Map<string, number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PinholeError('IMPORT_REJECTED', 'vocab.json is not valid JSON', { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PinholeError('IMPORT_REJECTED', 'vocab.json is not an object of token ids');
  }
  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(parsed)) {
    if (!Number.isInteger(id) || (id as number) < 0) {
      throw new PinholeError('IMPORT_REJECTED', `vocab.json gives ${JSON.stringify(token)} a bad id`);
    }
    vocab.set(token, id as number);
  }
  return vocab;
}

/** Parses `merges.txt`: an optional `#version` header, then one `left right` pair a line, in rank order. */
export function parseMergesTxt(text: string): [string, string][] {
  const lines = text.split('\n');
  const start = lines[0]?.startsWith('#version') ? 1 : 0;
  return parseMergeLines(lines.slice(start), 'merges.txt');
}

/**
 * Parses the text of `bpe_simple_vocab_16e6.txt.gz` as CLIP's `SimpleTokenizer` does: the merges are lines
 * 2 … 48895 (the rest of the file is unused), and the vocabulary is the 256 byte characters, the same with
 * `</w>`, one token per merge (the pair joined), then `<|startoftext|>` and `<|endoftext|>`.
 */
export function parseBpeSimpleVocab(text: string): BpeFiles {
  const merges = parseMergeLines(text.split('\n').slice(1, 1 + CLIP_MERGE_COUNT), 'the BPE merges file');
  if (merges.length !== CLIP_MERGE_COUNT) {
    throw new PinholeError(
      'IMPORT_REJECTED',
      `The BPE merges file has ${merges.length} merges, not ${CLIP_MERGE_COUNT}`,
    );
  }
  const tokens: string[] = BYTE_ORDER.map((b) => BYTE_TO_CHAR[b] as string);
  tokens.push(...tokens.map((t) => t + END_OF_WORD));
  for (const [left, right] of merges) tokens.push(left + right);
  tokens.push(CLIP_SETTINGS.bosToken, CLIP_SETTINGS.eosToken);
  return { vocab: new Map(tokens.map((t, id) => [t, id])), merges };
}

function parseMergeLines(lines: readonly string[], source: string): [string, string][] {
  const merges: [string, string][] = [];
  for (const line of lines) {
    const parts = line.trim().split(/\s+/);
    if (parts.length === 1 && parts[0] === '') continue; // blank lines (the trailing newline)
    if (parts.length !== 2) {
      throw new PinholeError('IMPORT_REJECTED', `${source} has a malformed line: ${JSON.stringify(line)}`);
    }
    merges.push(parts as [string, string]);
  }
  return merges;
}

/**
 * Settings from `tokenizer_config.json` and `special_tokens_map.json` (either may be absent; the map wins
 * where both name a token, as in transformers). Tokens may be strings or serialized `AddedToken` objects.
 * A missing or implausible `model_max_length` (transformers writes 1e30 for "no limit") falls back to 77.
 */
export function parseTokenizerSettings(configText?: string, specialTokensText?: string): TokenizerSettings {
  const config = parseObject(configText, 'tokenizer_config.json');
  const special = parseObject(specialTokensText, 'special_tokens_map.json');
  const token = (key: string, fallback: string): string =>
    tokenContent(special[key]) ?? tokenContent(config[key]) ?? fallback;
  const length = config['model_max_length'];
  const maxLength =
    Number.isInteger(length) && (length as number) >= 3 && (length as number) <= 4096
      ? (length as number)
      : CLIP_SETTINGS.maxLength;
  return {
    maxLength,
    bosToken: token('bos_token', CLIP_SETTINGS.bosToken),
    eosToken: token('eos_token', CLIP_SETTINGS.eosToken),
    // transformers' CLIPTokenizer pads with `<|endoftext|>` unless told otherwise.
    padToken: token('pad_token', CLIP_SETTINGS.padToken),
  };
}

function parseObject(text: string | undefined, name: string): Record<string, unknown> {
  if (text === undefined) return {};
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch (error) {
    throw new PinholeError('IMPORT_REJECTED', `${name} is not valid JSON`, { cause: error });
  }
  throw new PinholeError('IMPORT_REJECTED', `${name} is not a JSON object`);
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** Reads a Hugging Face tokenizer folder (`vocab.json` and `merges.txt` required, the configs optional). */
export async function readTokenizerFolder(dir: string): Promise<BpeFiles & { settings: TokenizerSettings }> {
  const [vocabText, mergesText, configText, specialText] = await Promise.all([
    readRequired(path.join(dir, 'vocab.json')),
    readRequired(path.join(dir, 'merges.txt')),
    readOptional(path.join(dir, 'tokenizer_config.json')),
    readOptional(path.join(dir, 'special_tokens_map.json')),
  ]);
  return {
    vocab: parseVocabJson(vocabText),
    merges: parseMergesTxt(mergesText),
    settings: parseTokenizerSettings(configText, specialText),
  };
}

/** Reads and decompresses `bpe_simple_vocab_16e6.txt.gz`. */
export async function readBpeSimpleVocab(file: string): Promise<BpeFiles> {
  const compressed = await readFile(file).catch((error: unknown) => {
    throw new PinholeError('NOT_FOUND', `Cannot read ${file}`, { cause: error });
  });
  let text: string;
  try {
    text = gunzipSync(compressed).toString('utf8');
  } catch (error) {
    throw new PinholeError('IMPORT_REJECTED', `${file} is not a gzip file`, { cause: error });
  }
  return parseBpeSimpleVocab(text);
}

async function readRequired(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `Tokenizer file missing: ${file}`, { cause: error });
  }
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PinholeError('NOT_FOUND', `Cannot read ${file}`, { cause: error });
  }
}
