/**
 * A separate VAE for an optimum ONNX folder, which has no diffusers weights to rebuild the model from: a new
 * folder whose `vae/`, `vae_decoder/` and `vae_encoder/` are built from the VAE file, and whose every other part
 * links to the original. The UNet and text encoders (gigabytes) are never copied: subfolders are directory
 * symlinks (junctions on Windows, which need no privilege); top-level files (`model_index.json`, …) are small and
 * copied. `loadModelFolder` and the LoRA merger read the result as an ordinary model folder.
 */
import { existsSync } from 'node:fs';
import { copyFile, readdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { vaeComponent, type Component } from './components';
import type { CheckpointFamily } from './family';
import { openStateDict } from './state-dict';
import { writeVaeFolder, type ConvertProgress } from './write-folder';

/** The parts the overlay replaces. */
const VAE_PARTS = new Set(['vae', 'vae_decoder', 'vae_encoder']);

async function readConfig(file: string): Promise<Record<string, unknown>> {
  try {
    const value: unknown = JSON.parse(await readFile(file, 'utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/**
 * The family of an ONNX folder, from its configs as `detectTraits` reads them (SDXL: a second text encoder;
 * SD 2.x: 1024-wide cross-attention), so a VAE built for it gets the family's conventions.
 */
async function onnxFolderFamily(dir: string): Promise<CheckpointFamily> {
  const index = await readConfig(path.join(dir, 'model_index.json'));
  const recorded = index['pinhole_family'];
  if (recorded === 'sd1' || recorded === 'sd2' || recorded === 'sdxl') return recorded;
  if (existsSync(path.join(dir, 'text_encoder_2', 'model.onnx'))) return 'sdxl';
  const unet = await readConfig(path.join(dir, 'unet', 'config.json'));
  const encoder = await readConfig(path.join(dir, 'text_encoder', 'config.json'));
  return unet['cross_attention_dim'] === 1024 || encoder['hidden_size'] === 1024 ? 'sd2' : 'sd1';
}

/**
 * The VAE file as a component for the ONNX folder `base`, keeping the folder's own latent scaling (a VAE swap
 * changes the decoder, never how the UNet's latents are scaled).
 * @throws PinholeError `IMPORT_REJECTED` naming the file when it holds no VAE.
 */
export async function overlayVaeComponent(base: string, vaeFile: string): Promise<Component> {
  const vae = vaeComponent(await openStateDict(vaeFile), await onnxFolderFamily(base));
  const own = await readConfig(path.join(base, 'vae_decoder', 'config.json'));
  const scaling = own['scaling_factor'];
  return typeof scaling === 'number' ? { ...vae, config: { ...vae.config, scaling_factor: scaling } } : vae;
}

/**
 * Writes the overlay of `base` (an ONNX folder, absolute) with `vae` into the empty folder `dir`.
 * @throws PinholeError `IMPORT_REJECTED` when a link cannot be made or the VAE graphs cannot be built;
 *   `CANCELED` when `signal` aborts.
 */
export async function writeOnnxVaeOverlay(
  base: string,
  vae: Component,
  dir: string,
  options: { onProgress?: ((progress: ConvertProgress) => void) | undefined; signal?: AbortSignal | undefined },
): Promise<void> {
  for (const entry of await readdir(base, { withFileTypes: true })) {
    if (VAE_PARTS.has(entry.name) || entry.name === 'pinhole-source.json') continue;
    const from = path.join(base, entry.name);
    const to = path.join(dir, entry.name);
    try {
      if (entry.isDirectory()) await symlink(from, to, process.platform === 'win32' ? 'junction' : 'dir');
      else if (entry.isFile()) await copyFile(from, to);
    } catch (error) {
      throw new PinholeError('IMPORT_REJECTED', `Cannot link ${from} into the folder with the separate VAE`, {
        cause: error,
      });
    }
  }
  await writeVaeFolder(vae, dir, options);
}
