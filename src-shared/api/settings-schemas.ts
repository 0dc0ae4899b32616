import { z } from 'zod';

/** Execution providers by onnxruntime's names; `auto` probes the platform's list in order of preference. */
export const ExecutionProviderChoice = z.enum(['auto', 'cuda', 'dml', 'coreml', 'webgpu', 'cpu']);
export type ExecutionProviderChoice = z.infer<typeof ExecutionProviderChoice>;

/** The user's preferences (Settings page). Every field has a default, so `{}` parses to the full set. */
export const StudioSettings = z
  .object({
    /** Where the engine runs models. `PINHOLE_EP` in the environment wins over this (scripts, tests). */
    executionProvider: ExecutionProviderChoice.default('auto'),
  })
  .strict();
export type StudioSettingsValue = z.infer<typeof StudioSettings>;

/** A change to some preferences (no defaults: an absent field stays as it is). */
export const StudioSettingsChanges = z
  .object({
    executionProvider: ExecutionProviderChoice.optional(),
  })
  .strict();

/** One provider the engine tried when it started, in order: the chosen one last. */
export const ProviderAttemptView = z.object({
  provider: z.string(),
  ok: z.boolean(),
  /** Why it was skipped (absent when it loaded). */
  reason: z.string().optional(),
});
