/**
 * PyTorch-compatible random numbers for the engine: `TorchGenerator` reproduces `torch.Generator()` on the
 * CPU (mt19937, `randn`, `randint`), so a seed gives the same noise as diffusers or ComfyUI with a CPU
 * generator.
 */
export { TorchGenerator } from './torch-generator';
export type { NormalKernel, TorchGeneratorOptions, TorchGeneratorState } from './torch-generator';
