/**
 * Reverse-mode autodiff over the engine's graph IR: `differentiate(model, { loss, wrt })` adds
 * the backward pass and `grad.<name>` outputs; `RULES` is the per-op gradient table.
 */
export { differentiate, gradName, type DifferentiateOptions } from './differentiate';
export { NOT_DIFFERENTIABLE, RULES, type GradContext, type GradRule } from './rules';
export { type SegmentOf } from './recompute';
