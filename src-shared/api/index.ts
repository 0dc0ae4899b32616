export * from './contract';
export * from './schemas';
export * from './model-schemas';
export * from './train-presets';
export * from './loss-smoother';
export * from './dispatch';
export * from './bridge';
