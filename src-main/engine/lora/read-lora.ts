/**
 * Reads any LoRA file we support — kohya / A1111 (`lora_unet_….lora_down.weight`) or diffusers / PEFT
 * (`unet.….lora_A.weight`, `….lora.down.weight`) — into kohya modules. Keys of kinds we cannot merge (LyCORIS
 * LoHa / LoKr / OFT / full, IA3, DoRA's magnitudes) and keys that are no LoRA tensor at all are an error naming
 * them: a LoRA is never applied in part.
 */
import { PinholeError } from '../../../src-shared/errors';
import { SafetensorsFile } from '../weights';
import { readKohyaLora, type LoraWeights } from './file';
import { kohyaModuleOf } from './naming';
import { peftKeyOf, readPeftLora } from './peft';

/** Kinds we recognise but do not merge, by a pattern of their keys. */
const UNSUPPORTED_KINDS: readonly [RegExp, string][] = [
  [/\.hada_/, 'LoHa'],
  [/\.lokr_/, 'LoKr'],
  [/\.(oft_|oft_blocks)/, 'OFT'],
  [/\.(dora_scale|lora_magnitude_vector)/, 'DoRA'],
  [/\.ia3_|\.on_input$/, 'IA3'],
  [/\.(diff|diff_b)$/, 'full-weight difference (LyCORIS "full")'],
  [/\.(b1|w_norm|b_norm)$/, 'norm (LyCORIS)'],
  [/\.lora_mid\.weight$/, 'LoCon with a Tucker core (lora_mid)'],
];

/** The unsupported kinds a file's keys show (empty when none). */
export function unsupportedLoraKinds(keys: readonly string[]): string[] {
  return UNSUPPORTED_KINDS.filter(([re]) => keys.some((k) => re.test(k))).map(([, name]) => name);
}

function listKeys(keys: readonly string[]): string {
  return `${keys.slice(0, 5).join(', ')}${keys.length > 5 ? ` and ${keys.length - 5} more` : ''}`;
}

/**
 * Reads a kohya or diffusers / PEFT LoRA `.safetensors`.
 * @throws PinholeError `IMPORT_REJECTED` naming the keys for unsupported kinds, unknown keys, or a file mixing
 *   both formats; `readKohyaLora` / `readPeftLora`'s errors for broken modules.
 */
export async function readLora(path: string): Promise<LoraWeights> {
  const file = await SafetensorsFile.open(path);
  let peft: string[];
  try {
    const names = file.names;
    const kinds = unsupportedLoraKinds(names);
    if (kinds.length > 0) {
      const keys = names.filter((k) => UNSUPPORTED_KINDS.some(([re]) => re.test(k)));
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${path}: unsupported LoRA kind (${kinds.join(', ')}); only LoRA (kohya, LoCon, diffusers/PEFT) can be merged: ${listKeys(keys)}`,
      );
    }
    const kohya = names.filter((k) => kohyaModuleOf(k) !== undefined && !peftKeyOf(k));
    peft = names.filter((k) => peftKeyOf(k) !== undefined);
    const unknown = names.filter((k) => !kohya.includes(k) && !peft.includes(k));
    if (unknown.length > 0) {
      throw new PinholeError('IMPORT_REJECTED', `${path}: not LoRA tensors: ${listKeys(unknown)}`);
    }
    if (kohya.length > 0 && peft.length > 0) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${path} mixes kohya keys (${kohya[0]}) and diffusers/PEFT keys (${peft[0]}); convert it to one format`,
      );
    }
    if (peft.length > 0) return await readPeftLora(file, peft, path);
  } finally {
    await file.close();
  }
  return readKohyaLora(path);
}
