import type { Migration } from './types';

/**
 * A library checkpoint's prediction type as the user set it (`pinhole models import --prediction`, the Models
 * page): SD 2.x's v-prediction is inferred from the weights, and fine-tunes can fool the inference. NULL: use
 * what the weights say.
 */
export const migration0004: Migration = {
  version: 4,
  name: 'model-prediction',
  up: (db) => {
    db.exec(`
      ALTER TABLE models ADD COLUMN prediction TEXT CHECK (prediction IN ('epsilon', 'v_prediction'));
    `);
  },
};
