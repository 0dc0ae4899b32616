/**
 * Text side of the engine: CLIP tokenization, A1111 prompt weighting and chunking, the token counter.
 */
export { ClipTokenizer, type PaddedIds } from './clip-tokenizer';
export { CLIP_SETTINGS, type TokenizerSettings } from './tokenizer-files';
export { BREAK_WEIGHT, parsePromptAttention, type WeightedText } from './prompt-attention';
export {
  buildWeightedChunks,
  chunkPrompt,
  type ChunkedPrompt,
  type ChunkOptions,
  type ChunkTokenizer,
  type TokenEmbedding,
  type WeightedChunk,
} from './prompt-chunks';
export { embeddingName, readTextualInversion, type EmbeddingPart, type TextualInversion } from './embeddings';
export { applyTokenWeights } from './token-weights';
export { countTokens, type TokenCount } from './token-count';
export { cleanText } from './text-cleanup';
