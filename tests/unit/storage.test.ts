import path from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { latestSchemaVersion, openDatabase, schemaVersion } from '../../src-main/storage/database';
import { ContentStore, sha256Hex } from '../../src-main/storage/content-store';
import { MIGRATIONS, type Migration } from '../../src-main/storage/migrations';
import { makeTempDir } from '../helpers/temp-dir';

describe('database', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => ({ dir, cleanup } = makeTempDir()));
  afterEach(() => cleanup());

  it('opens with WAL, foreign keys and the latest schema', () => {
    const db = openDatabase(path.join(dir, 'a.db'));
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(schemaVersion(db)).toBe(latestSchemaVersion());
    db.close();
  });

  it('uses STRICT tables: a wrong type is refused, not coerced', () => {
    const db = openDatabase(path.join(dir, 'a.db'));
    expect(() =>
      db.prepare(`INSERT INTO datasets (id, name, created_at) VALUES ('d', 'x', 'not a number')`).run(),
    ).toThrow(/cannot store TEXT value in INTEGER column/);
    db.close();
  });

  it('enforces foreign keys', () => {
    const db = openDatabase(path.join(dir, 'a.db'));
    expect(() =>
      db
        .prepare(
          `INSERT INTO dataset_images (dataset_id, sha256, original_name, added_at) VALUES ('nope', 'x', 'a', 0)`,
        )
        .run(),
    ).toThrow(/FOREIGN KEY/);
    db.close();
  });

  it('applies only the pending migrations, in order, once', () => {
    const file = path.join(dir, 'm.db');
    const ran: number[] = [];
    const step = (version: number): Migration => ({
      version,
      name: `m${version}`,
      up: (db) => {
        ran.push(version);
        db.exec(`CREATE TABLE t${version} (x INTEGER) STRICT`);
      },
    });
    openDatabase(file, { migrations: [step(1)] }).close();
    const db = openDatabase(file, { migrations: [step(1), step(2), step(3)] });
    expect(ran).toEqual([1, 2, 3]);
    expect(schemaVersion(db)).toBe(3);
    db.close();
  });

  it('rolls back a migration that fails, keeping the previous version', () => {
    const file = path.join(dir, 'f.db');
    const broken: Migration = {
      version: 2,
      name: 'broken',
      up: (db) => {
        db.exec('CREATE TABLE half (x INTEGER) STRICT');
        throw new Error('boom');
      },
    };
    expect(() => openDatabase(file, { migrations: [...MIGRATIONS.slice(0, 1), broken] })).toThrow('boom');
    const db = openDatabase(file, { migrations: MIGRATIONS.slice(0, 1) });
    expect(schemaVersion(db)).toBe(1);
    expect(db.prepare(`SELECT name FROM sqlite_master WHERE name = 'half'`).get()).toBeUndefined();
    db.close();
  });

  it('refuses to open a data home written by a newer schema', () => {
    const file = path.join(dir, 'n.db');
    const db = openDatabase(file);
    db.pragma(`user_version = ${latestSchemaVersion() + 1}`);
    db.close();
    expect(() => openDatabase(file)).toThrow(expect.objectContaining({ code: 'DATA_HOME_TOO_NEW' }));
  });
});

describe('ContentStore', () => {
  it('stores by hash, idempotently, and refuses ids that could escape the store', async () => {
    const { dir, cleanup } = makeTempDir();
    const store = new ContentStore(path.join(dir, 'files'), dir);
    const bytes = new TextEncoder().encode('hello');
    const id = await store.put(bytes);
    expect(id).toBe(sha256Hex(bytes));
    expect(await store.put(bytes)).toBe(id);
    expect(readFileSync(store.pathOf(id), 'utf8')).toBe('hello');
    expect(existsSync(path.join(dir, 'files', id.slice(0, 2), id))).toBe(true);
    expect(() => store.pathOf('../../etc/passwd')).toThrow(/Not a content id/);
    cleanup();
  });
});
