export { Layers, type LayerOptions, type ModuleCall, type ModuleHooks } from './layers';
export { memoryWeights, safetensorsWeights, type WeightSource } from './weight-source';
