/**
 * What names in prompts stand for: `<lora:NAME:W>` tags resolved through the caller's name table into LoRA
 * requests, the embedding table, and the prompt as A1111's infotext writes it.
 */
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { parseLoraTags } from '../lora';
import type { LoraRequest } from './lora-models';

/** What names in a prompt stand for (see `GenerateRequest.networks`). */
export interface PromptNetworks {
  /** `<lora:NAME:…>` tag name → LoRA file. */
  readonly loras?: Readonly<Record<string, string>> | undefined;
  /** Embedding name → file. */
  readonly embeddings?: Readonly<Record<string, string>> | undefined;
}

function nameTable(field: string, table: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (table === undefined) return out;
  if (typeof table !== 'object' || table === null || Array.isArray(table)) {
    throw new PinholeError('INVALID_PARAMS', `networks.${field}: must be an object of name → file path`);
  }
  for (const [name, file] of Object.entries(table)) {
    if (typeof file !== 'string' || file === '') {
      throw new PinholeError('INVALID_PARAMS', `networks.${field}.${name}: must be a file path`);
    }
    out.set(name, file);
  }
  return out;
}

/**
 * The LoRAs of the prompts' `<lora:NAME:W>` tags (prompt, then negative prompt; A1111 applies both), their names
 * looked up in `networks.loras`, and the embedding table.
 * @throws PinholeError `NOT_FOUND` naming a tag whose name the table lacks; `INVALID_PARAMS` for a malformed tag
 *   or table.
 */
export function resolvePromptLoras(
  prompts: readonly string[],
  networks: PromptNetworks | undefined,
): { loras: LoraRequest[]; embeddings: Map<string, string> } {
  if (networks !== undefined && (typeof networks !== 'object' || networks === null)) {
    throw new PinholeError('INVALID_PARAMS', 'networks: must be an object with loras and embeddings tables');
  }
  const table = nameTable('loras', networks?.loras);
  const loras: LoraRequest[] = [];
  for (const prompt of prompts) {
    for (const tag of parseLoraTags(prompt)) {
      const file = table.get(tag.name);
      if (file === undefined) {
        throw new PinholeError(
          'NOT_FOUND',
          `Unknown LoRA "${tag.name}" in ${tag.tag}: no LoRA of that name (put ${tag.name}.safetensors in the models/loras folder)`,
        );
      }
      loras.push({
        path: file,
        weight: tag.weight,
        ...(tag.unetWeight !== undefined ? { unetWeight: tag.unetWeight } : {}),
      });
    }
  }
  return { loras, embeddings: nameTable('embeddings', networks?.embeddings) };
}

/** A1111's name of a LoRA file: its base name without `.safetensors`. */
export function loraName(file: string): string {
  return path.basename(file).replace(/\.safetensors$/i, '');
}

/**
 * The prompt as A1111's infotext shows it: each explicitly requested LoRA appended as `<lora:NAME:WEIGHT>` (its
 * UI adds the tag to the prompt; the tags are removed again before encoding).
 */
export function withLoraTags(prompt: string, explicit: readonly LoraRequest[]): string {
  const tags = explicit.map(
    (l) => `<lora:${loraName(l.path)}:${l.weight}${l.unetWeight !== undefined ? `:${l.unetWeight}` : ''}>`,
  );
  if (tags.length === 0) return prompt;
  return prompt === '' ? tags.join(' ') : `${prompt} ${tags.join(' ')}`;
}
