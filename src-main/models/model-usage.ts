/**
 * What uses a library model: being the default of its kind, and queued, running or interrupted
 * jobs that name it (as `--model`, `--vae`, a LoRA file, or `<lora:NAME>` / an embedding in a prompt).
 * Removing a model under a job that will read it would fail that job later, far from the cause.
 */
import type { JobView } from '../../src-shared/api';
import type { ModelRecord } from './model-store';

export type RequestLike = {
  model?: unknown;
  vae?: unknown;
  prompt?: unknown;
  negativePrompt?: unknown;
  loras?: unknown;
  initLora?: unknown;
};

function requestOf(job: JobView): RequestLike | null {
  const params: unknown = job.params;
  if (typeof params !== 'object' || params === null || !('request' in params)) return null;
  const { request } = params;
  return typeof request === 'object' && request !== null ? request : null;
}

/** True when `text` names the model as A1111 prompts do: `<lora:NAME…>` / `<lyco:NAME…>` or an embedding's word. */
function promptNames(text: unknown, record: ModelRecord): boolean {
  if (typeof text !== 'string') return false;
  const name = record.name.toLowerCase();
  const lower = text.toLowerCase();
  if (record.kind === 'lora') {
    return [...lower.matchAll(/<(?:lora|lyco):([^:>]+)/g)].some((m) => m[1]!.trim() === name);
  }
  if (record.kind === 'embedding') return new RegExp(`(^|[^\\w])${escape(name)}($|[^\\w])`).test(lower);
  return false;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Whether a job's request uses the model (stored at `file`). */
export function jobUses(job: JobView, record: ModelRecord, file: string): boolean {
  return requestUses(requestOf(job), record, file);
}

/** Whether a generate or train request (a job's, or the one a gallery image records) uses the model. */
export function requestUses(request: RequestLike | null, record: ModelRecord, file: string): boolean {
  if (!request) return false;
  const names = (value: unknown) =>
    typeof value === 'string' && (value === file || value.toLowerCase() === record.name.toLowerCase());
  if (record.kind === 'checkpoint' && names(request.model)) return true;
  if (record.kind === 'vae' && names(request.vae)) return true;
  if (Array.isArray(request.loras) && request.loras.some((l) => names((l as { path?: unknown } | null)?.path))) {
    return true;
  }
  if (names(request.initLora)) return true;
  return promptNames(request.prompt, record) || promptNames(request.negativePrompt, record);
}

/** Human descriptions of what uses the model ("the default checkpoint", "job job_… (queued): Generate …"). */
export function describeUsers(record: ModelRecord, file: string, activeJobs: readonly JobView[]): string[] {
  const users: string[] = [];
  if (record.isDefault) users.push(`the default ${record.kind}`);
  for (const job of activeJobs) {
    if (jobUses(job, record, file)) users.push(`job ${job.id} (${job.state}): ${job.title}`);
  }
  return users;
}
