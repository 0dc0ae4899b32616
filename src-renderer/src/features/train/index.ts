/** Train: datasets, imports and captions. */
export { TrainPage } from './train-page';
