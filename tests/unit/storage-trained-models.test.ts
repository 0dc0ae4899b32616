/**
 * Migration 5 (`trained` models): the models table is rebuilt so a library row can come from a training
 * run; an older data home keeps every row (the user's prediction setting included), its unique indexes
 * still hold, and other sources are still refused.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion } from '../../src-main/storage/database';
import { MIGRATIONS } from '../../src-main/storage/migrations';
import { makeTempDir } from '../helpers/temp-dir';

const insert = `INSERT INTO models (id, name, kind, bytes, sha256, short_hash, source, origin, stored_path, added_at)
  VALUES (?, ?, ?, 1, ?, substr(?, 1, 10), ?, 'x', ?, 0)`;

describe('migration 5: trained models', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => (tmp = makeTempDir('pinhole-migration-5-')));
  afterEach(() => tmp.cleanup());

  it('upgrades a schema-4 data home keeping its models, then takes source "trained"', () => {
    const file = path.join(tmp.dir, 'old.db');
    const old = openDatabase(file, { migrations: MIGRATIONS.filter((m) => m.version < 5) });
    old
      .prepare(insert)
      .run('m1', 'Dream', 'checkpoint', 'a'.repeat(64), 'a'.repeat(64), 'file', 'models/checkpoints/Dream');
    old.prepare(`UPDATE models SET prediction = 'v_prediction', is_default = 1 WHERE id = 'm1'`).run();
    expect(() =>
      old.prepare(insert).run('m2', 'Rex', 'lora', 'b'.repeat(64), 'b'.repeat(64), 'trained', 'models/loras/Rex'),
    ).toThrow(/CHECK/);
    old.close();

    const db = openDatabase(file);
    try {
      expect(schemaVersion(db)).toBeGreaterThanOrEqual(5);
      expect(db.prepare('SELECT id, name, prediction, is_default FROM models').all()).toEqual([
        { id: 'm1', name: 'Dream', prediction: 'v_prediction', is_default: 1 },
      ]);
      db.prepare(insert).run('m2', 'Rex', 'lora', 'b'.repeat(64), 'b'.repeat(64), 'trained', 'models/loras/Rex');
      // The rebuilt table keeps its rules: unique names per kind (any case), unique hashes, known sources.
      expect(() =>
        db.prepare(insert).run('m3', 'REX', 'lora', 'c'.repeat(64), 'c'.repeat(64), 'trained', 'models/loras/REX'),
      ).toThrow(/UNIQUE/);
      expect(() =>
        db.prepare(insert).run('m4', 'Other', 'lora', 'b'.repeat(64), 'b'.repeat(64), 'file', 'models/loras/Other'),
      ).toThrow(/UNIQUE/);
      expect(() =>
        db.prepare(insert).run('m5', 'Else', 'lora', 'd'.repeat(64), 'd'.repeat(64), 'merged', 'models/loras/Else'),
      ).toThrow(/CHECK/);
    } finally {
      db.close();
    }
  });
});
