/**
 * The studio's name resolution for prompts: LoRAs and embeddings from the library first, then the models
 * folders' `loras/` and `embeddings/` (first name wins); the tables a request gets (only the LoRAs its tags
 * name, every embedding); and the Generate page's counter (tags not counted, embeddings as their vectors).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ClipTokenizer } from '../../src-main/engine/text';
import { writeSafetensors } from '../../src-main/engine/weights';
import {
  countPromptTokens,
  createNetworkResolver,
  networkFolderEntries,
  promptNetworks,
} from '../../src-main/generation';
import { FIXTURES } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const tmp = makeTempDir('pinhole-network-resolver-');
afterAll(() => tmp.cleanup());

const home = path.join(tmp.dir, 'home-models');
const extra = path.join(tmp.dir, 'extra');
for (const dir of [path.join(home, 'loras'), path.join(extra, 'loras'), path.join(home, 'embeddings')]) {
  mkdirSync(dir, { recursive: true });
}
writeFileSync(path.join(home, 'loras', 'style.safetensors'), 'x');
writeFileSync(path.join(home, 'loras', 'notes.txt'), 'not a LoRA');
writeFileSync(path.join(extra, 'loras', 'style.safetensors'), 'shadowed');
writeFileSync(path.join(extra, 'loras', 'ink.safetensors'), 'yy');

describe('network resolver', () => {
  it('lists library files first, then the folders, one file per name', async () => {
    const resolver = createNetworkResolver({
      roots: [home, extra],
      library: (kind) => (kind === 'lora' ? [{ name: 'ink', path: '/library/ink.safetensors', sizeBytes: 9 }] : []),
    });
    expect(await resolver.list('lora')).toEqual([
      { name: 'ink', path: '/library/ink.safetensors', sizeBytes: 9 },
      { name: 'style', path: path.join(home, 'loras', 'style.safetensors'), sizeBytes: 1 },
    ]);
    const entries = await networkFolderEntries([home, extra], 'lora', new Set(['ink']));
    expect(entries.map((e) => [e.name, e.source, e.kind])).toEqual([['style', 'folder', 'lora']]);
  });

  it('gives a request the LoRAs its tags name and every embedding', async () => {
    const resolver = createNetworkResolver({ roots: [home, extra] });
    const networks = await promptNetworks(resolver, ['a <lora:ink:0.5> cat', '<lora:unknown>']);
    expect(networks.loras).toEqual({ ink: path.join(extra, 'loras', 'ink.safetensors') });
    expect(networks.embeddings).toEqual({});
  });

  it('counts tokens without tags and with embeddings as their vectors', async () => {
    await writeSafetensors(path.join(home, 'embeddings', 'fivevec.safetensors'), [
      { name: 'emb_params', dtype: 'float32', dims: [5, 32], data: new Float32Array(5 * 32) },
    ]);
    const resolver = createNetworkResolver({ roots: [home] });
    const tokenizer = await ClipTokenizer.load(path.join(FIXTURES, 'sd15-tiny', 'tokenizer'));
    const plain = tokenizer.encode('a photo of a cat').length;
    expect(await countPromptTokens(tokenizer, 'a photo of a cat <lora:style:0.8>', resolver)).toBe(plain);
    expect(await countPromptTokens(tokenizer, 'a photo of a cat, fivevec', resolver)).toBe(plain + 1 + 5);
    // Literal otherwise, as `pinhole tokenize` counts: brackets and weights are tokens.
    expect(await countPromptTokens(tokenizer, '(cat:1.2)', resolver)).toBe(tokenizer.encode('(cat:1.2)').length);
  });
});
