/**
 * The Generate page's token counter: the prompt's CLIP tokens as `pinhole tokenize` counts them, except that
 * extra-network tags (`<lora:…>`) are not counted (A1111 removes them before tokenizing) and each
 * textual-inversion embedding the prompt names counts as its vectors, not as the tokens of its name (as in
 * A1111). An embedding that does not fit the rest of a 75-token chunk starts the next one, so it counts the
 * padding it causes.
 */
import { chunkPrompt, cleanText, readTextualInversion, stripNetworkTags, type ClipTokenizer } from '../engine';
import type { NetworkResolver } from './network-resolver';

/**
 * Counts `text`'s tokens with the embeddings `resolver` knows.
 * @throws PinholeError `IMPORT_REJECTED` naming an embedding file the prompt uses that cannot be read.
 */
export async function countPromptTokens(
  tokenizer: ClipTokenizer,
  text: string,
  resolver: NetworkResolver,
): Promise<number> {
  const stripped = stripNetworkTags(text);
  const cleaned = cleanText(stripped);
  const used = (await resolver.list('embedding')).filter((e) => {
    const name = cleanText(e.name);
    return name !== '' && cleaned.includes(name);
  });
  const embeddings = [];
  for (const file of used) {
    const { vectors } = await readTextualInversion(file.path, file.name);
    // Only the number of ids matters to the count.
    embeddings.push({ nameIds: tokenizer.encode(file.name), ids: new Array<number>(vectors).fill(-1) });
  }
  // Literal text (no weighting syntax, no comma backtracking), as `text.tokenize` counts it.
  return chunkPrompt(tokenizer, stripped, { emphasis: false, commaBacktrack: 0, embeddings }).tokenCount;
}
