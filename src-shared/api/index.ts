export * from './contract';
export * from './schemas';
export * from './dispatch';
export * from './bridge';
