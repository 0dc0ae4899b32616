import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { BpeModel, END_OF_WORD } from './bpe-model';
import { cleanText, WHITE_SPACE } from './text-cleanup';
import {
  CLIP_SETTINGS,
  parseBpeSimpleVocab,
  parseMergesTxt,
  parseTokenizerSettings,
  readBpeSimpleVocab,
  readTokenizerFolder,
  type TokenizerSettings,
} from './tokenizer-files';

/**
 * CLIP's pre-tokenizer: the two special tokens, English contractions, runs of letters, single digits, runs
 * of anything else but whitespace. Case-insensitive (`i`) like the reference, which matters only for the few
 * characters whose simple case folding differs from their lowercase (`'ſ` matches `'s`). `\s` is Unicode
 * White_Space as in Python's `regex` module, not JavaScript's set.
 */
const PRE_TOKEN = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${WHITE_SPACE}\\p{L}\\p{N}]+`,
  'giu',
);

/** A sequence padded to the model's length, as the text encoder takes it. */
export type PaddedIds = {
  /** `maxLength` ids: start, up to `maxLength − 2` text tokens, end, then the pad id. */
  ids: Int32Array;
  /** Positions that are not padding (start and end included); the end token sits at `length − 1`. */
  length: number;
  /** Whether text tokens were cut to fit. */
  truncated: boolean;
};

/**
 * CLIP's byte-level BPE tokenizer, matching OpenAI's `simple_tokenizer` (with ftfy as the identity) id for id.
 *
 * Load it from a model's `tokenizer/` folder (`vocab.json` + `merges.txt`, with `tokenizer_config.json`
 * deciding the pad token and length) or from `bpe_simple_vocab_16e6.txt.gz`; both give the same ids.
 */
export class ClipTokenizer {
  /** `<|startoftext|>` (49406 in CLIP's vocabulary). */
  readonly bos: number;
  /** `<|endoftext|>` (49407). */
  readonly eos: number;
  /** The padding id: the end token for SD 1.x, `!` (0) for SDXL's second tokenizer. */
  readonly pad: number;
  /** Length of a padded sequence, start and end included (77). */
  readonly maxLength: number;
  /** The id of `,</w>`, which prompt chunking backtracks to; undefined if the vocabulary has none. */
  readonly comma: number | undefined;
  private readonly specials: ReadonlyMap<string, number>;

  private constructor(
    private readonly bpe: BpeModel,
    settings: TokenizerSettings,
  ) {
    const id = (token: string, role: string): number => {
      const value = bpe.vocab.get(token);
      if (value === undefined) {
        throw new PinholeError(
          'IMPORT_REJECTED',
          `The ${role} token ${JSON.stringify(token)} is not in the vocabulary`,
        );
      }
      return value;
    };
    this.bos = id(settings.bosToken, 'start');
    this.eos = id(settings.eosToken, 'end');
    this.pad = id(settings.padToken, 'pad');
    this.maxLength = settings.maxLength;
    this.comma = bpe.vocab.get(',' + END_OF_WORD);
    // The reference seeds its BPE cache with the two special tokens, so typed in a prompt they are one id each.
    const specials = new Map<string, number>();
    for (const token of [CLIP_SETTINGS.bosToken, CLIP_SETTINGS.eosToken]) {
      const value = bpe.vocab.get(token);
      if (value !== undefined) specials.set(token, value);
    }
    this.specials = specials;
  }

  /** Loads a Hugging Face tokenizer folder, e.g. `<model>/tokenizer` or `<model>/tokenizer_2`. */
  static async load(tokenizerDir: string): Promise<ClipTokenizer> {
    const files = await readTokenizerFolder(tokenizerDir);
    return new ClipTokenizer(new BpeModel(files.vocab, files.merges), files.settings);
  }

  /** Loads `<modelDir>/<subfolder>` (`tokenizer` by default; `tokenizer_2` for SDXL's second encoder). */
  static fromModelFolder(modelDir: string, subfolder = 'tokenizer'): Promise<ClipTokenizer> {
    return ClipTokenizer.load(path.join(modelDir, subfolder));
  }

  /**
   * Loads OpenAI's `bpe_simple_vocab_16e6.txt.gz` (CLIP's settings: 77, padding with the end token, unless
   * `settings` says otherwise — `{ padToken: '!' }` gives SDXL's second tokenizer).
   */
  static async loadBpeGzip(file: string, settings: Partial<TokenizerSettings> = {}): Promise<ClipTokenizer> {
    const files = await readBpeSimpleVocab(file);
    return new ClipTokenizer(new BpeModel(files.vocab, files.merges), { ...CLIP_SETTINGS, ...settings });
  }

  /** Builds a tokenizer from file contents already in memory (`vocab.json` parsed, `merges.txt` as text). */
  static fromFiles(files: {
    vocab: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
    merges: string;
    tokenizerConfig?: string;
    specialTokensMap?: string;
  }): ClipTokenizer {
    const vocab = files.vocab instanceof Map ? files.vocab : new Map(Object.entries(files.vocab));
    const settings = parseTokenizerSettings(files.tokenizerConfig, files.specialTokensMap);
    return new ClipTokenizer(new BpeModel(vocab, parseMergesTxt(files.merges)), settings);
  }

  /** Builds a tokenizer from the decompressed text of `bpe_simple_vocab_16e6.txt.gz`. */
  static fromBpeText(text: string, settings: Partial<TokenizerSettings> = {}): ClipTokenizer {
    const files = parseBpeSimpleVocab(text);
    return new ClipTokenizer(new BpeModel(files.vocab, files.merges), { ...CLIP_SETTINGS, ...settings });
  }

  /** Vocabulary size (49408 for CLIP). */
  get vocabSize(): number {
    return this.bpe.vocab.size;
  }

  /** The id of a vocabulary entry (e.g. `'cat</w>'`), or undefined. */
  tokenId(token: string): number | undefined {
    return this.bpe.vocab.get(token);
  }

  /**
   * The raw BPE ids of `text`: no start or end token, no truncation, no prompt-weighting syntax. Empty or
   * whitespace-only text gives `[]`.
   */
  encode(text: string): number[] {
    const ids: number[] = [];
    let cleaned = cleanText(text);
    // U+0345 (combining ypogegrammeni) case-folds to a Greek letter, and under the reference's IGNORECASE the
    // `regex` module matches it with none of the alternatives, so it is skipped and splits runs like a space;
    // JavaScript's `iu` would take it as a letter. It is the only code point where the two engines differ.
    if (cleaned.includes('\u0345')) cleaned = cleaned.replaceAll('\u0345', ' ');
    for (const match of cleaned.matchAll(PRE_TOKEN)) {
      const piece = match[0];
      const special = this.specials.get(piece);
      if (special !== undefined) {
        ids.push(special);
        continue;
      }
      for (const id of this.bpe.encodePiece(piece)) ids.push(id);
    }
    return ids;
  }

  /**
   * `text` as the text encoder takes it without prompt weighting, as transformers' tokenizer gives it with
   * `padding="max_length", truncation=True`: start token, the first `maxLength − 2` ids, end token, then the
   * pad id up to `maxLength`.
   */
  encodePadded(text: string): PaddedIds {
    const tokens = this.encode(text);
    const room = this.maxLength - 2;
    const kept = Math.min(tokens.length, room);
    const ids = new Int32Array(this.maxLength).fill(this.pad);
    ids[0] = this.bos;
    for (let i = 0; i < kept; i++) ids[i + 1] = tokens[i] as number;
    ids[kept + 1] = this.eos;
    return { ids, length: kept + 2, truncated: tokens.length > room };
  }
}
