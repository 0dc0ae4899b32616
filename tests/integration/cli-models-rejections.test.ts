/**
 * `pinhole models import --json` with files that must not enter the library — an unknown architecture (a
 * checkpoint-shaped file without any known text encoder; another kind of network's weights), a LoRA saved
 * under a checkpoint's module paths, files that are not models — gives one rejection line each with a reason
 * that names the file and says why, exits 0 (every file was processed), and leaves nothing in the library's
 * folders; a LoRA in its usual layout is filed as a LoRA, never as a checkpoint.
 */
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTensor, numel } from '../../src-main/engine/graph';
import { writeSafetensors } from '../../src-main/engine/weights';
import { jsonLines, runCli } from '../helpers/cli';
import { makeTempDir } from '../helpers/temp-dir';

/** Every file under a folder, relative. */
const filesUnder = (dir: string) =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort() : [];

async function weights(file: string, shapes: Record<string, number[]>): Promise<string> {
  await writeSafetensors(
    file,
    Object.entries(shapes).map(([name, dims]) => createTensor(name, 'float32', dims, new Float32Array(numel(dims)))),
  );
  return file;
}

describe('pinhole models import: files that are refused', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let home: string;
  beforeAll(() => {
    tmp = makeTempDir('pinhole-models-reject-');
    home = path.join(tmp.dir, 'home');
  });
  afterAll(() => tmp.cleanup());

  it('one rejection line per file, with its reason, and nothing left behind', async () => {
    const dir = tmp.dir;
    // A UNet and VAE in checkpoint layout without any text encoder (e.g. SDXL's refiner, or a UNet-only save).
    const unknownArch = await weights(path.join(dir, 'unet-only.safetensors'), {
      'model.diffusion_model.input_blocks.0.0.weight': [32, 4, 3, 3],
      'model.diffusion_model.input_blocks.0.0.bias': [32],
      'first_stage_model.decoder.conv_in.weight': [64, 4, 3, 3],
    });
    // A language model's weights: no name a Stable Diffusion file has.
    const otherNetwork = await weights(path.join(dir, 'gpt.safetensors'), {
      'transformer.h.0.attn.c_attn.weight': [8, 24],
      'transformer.wte.weight': [16, 8],
    });
    // A LoRA whose modules are named by the checkpoint's paths: a checkpoint by its prefix, a LoRA by its tensors.
    const module = 'model.diffusion_model.input_blocks.1.1.proj_in';
    const loraAsCheckpoint = await weights(path.join(dir, 'lora-in-checkpoint-paths.safetensors'), {
      [`${module}.lora_down.weight`]: [4, 320],
      [`${module}.lora_up.weight`]: [320, 4],
      'cond_stage_model.transformer.text_model.final_layer_norm.weight': [768],
    });
    const text = path.join(dir, 'notes.safetensors');
    writeFileSync(text, 'These are my notes, not a model at all.');
    const image = path.join(dir, 'photo.png');
    writeFileSync(image, Buffer.from('89504e470d0a1a0a', 'hex'));
    const lora = await weights(path.join(dir, 'style.safetensors'), {
      'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight': [4, 768],
      'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight': [320, 4],
      'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.alpha': [],
    });

    const files = [unknownArch, otherNetwork, loraAsCheckpoint, text, image, lora];
    const result = await runCli(['models', 'import', ...files, '--json', '--data-dir', home]);
    expect(result.code, result.stderr).toBe(0);
    const lines = jsonLines(result.stdout);
    expect(lines.map((l) => [path.basename(l['file'] as string), l['status']])).toEqual([
      ['unet-only.safetensors', 'rejected'],
      ['gpt.safetensors', 'rejected'],
      ['lora-in-checkpoint-paths.safetensors', 'rejected'],
      ['notes.safetensors', 'rejected'],
      ['photo.png', 'rejected'],
      ['style.safetensors', 'imported'],
    ]);
    const reasons = lines.map((l) => l['reason'] as string | undefined);
    expect(reasons[0]).toMatch(/unet-only\.safetensors.*no text encoder of SD 1\.x, SD 2\.x or SDXL base/);
    expect(reasons[1]).toMatch(/gpt\.safetensors is not a model file this studio knows/);
    expect(reasons[2]).toMatch(/lora-in-checkpoint-paths\.safetensors.*holds LoRA weights .*not a checkpoint/);
    expect(reasons[3]).toMatch(/notes\.safetensors/);
    expect(reasons[4]).toMatch(/not a model file: expected one of \.safetensors/);
    // The usual LoRA is filed as what it is.
    expect(lines[5]).toMatchObject({ status: 'imported', kind: 'lora', name: 'style' });

    expect(filesUnder(path.join(home, 'models'))).toEqual(['loras', path.join('loras', 'style.safetensors')]);
    expect(filesUnder(path.join(home, 'tmp'))).toEqual([]);
    const list = jsonLines((await runCli(['models', 'list', '--json', '--data-dir', home])).stdout);
    expect(list.filter((m) => m['source'] !== 'folder').map((m) => [m['name'], m['kind'], m['family']])).toEqual([
      ['style', 'lora', 'sd1'],
    ]);
  });
});
