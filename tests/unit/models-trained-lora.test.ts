/**
 * Keeping a trained LoRA in the models library (trained-lora.ts) over a real SQLite database, with the
 * inspection faked (the file's bytes are all that matter here): a copy leaves the user's file, a move
 * takes the studio's own; a later save from the same run output replaces the model's file under its
 * name; the same bytes as a model already there add nothing; names are made file-safe and unique.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ModelStore } from '../../src-main/models/model-store';
import { saveTrainedLora, trainedLoraName } from '../../src-main/models/trained-lora';
import type { ImportModelDeps } from '../../src-main/models/import-model-file';
import { openDataHome } from '../../src-main/platform/data-home';
import { openDatabase, type Database } from '../../src-main/storage/database';
import { makeTempDir } from '../helpers/temp-dir';

const sha256 = (bytes: string | Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('a trained LoRA in the library', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let db: Database;
  let deps: ImportModelDeps;
  let store: ModelStore;
  const file = (name: string, bytes: string) => {
    const p = path.join(tmp.dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  beforeEach(() => {
    tmp = makeTempDir('pinhole-trained-lora-');
    const home = openDataHome(path.join(tmp.dir, 'home'));
    db = openDatabase(home.database);
    store = new ModelStore(db);
    deps = { store, home, inspect: () => Promise.resolve({ kind: 'lora', family: 'sd1' }), now: () => 42 };
  });
  afterEach(() => {
    db.close();
    tmp.cleanup();
  });

  it('copies a --out file, and a later save from the same output replaces it under the same name', async () => {
    const out = file('rex.safetensors', 'first');
    const first = await saveTrainedLora(deps, { file: out, origin: out, name: 'rex', move: false });
    expect(first).toMatchObject({ name: 'rex', kind: 'lora', source: 'trained', origin: out, family: 'sd1' });
    expect(first.storedPath).toBe('models/loras/rex.safetensors');
    const stored = path.join(deps.home.root, first.storedPath);
    expect(readFileSync(stored, 'utf8')).toBe('first');
    expect(existsSync(out)).toBe(true);

    writeFileSync(out, 'second');
    const second = await saveTrainedLora(deps, { file: out, origin: out, name: 'ignored', move: false });
    expect(second).toMatchObject({ id: first.id, name: 'rex', sha256: sha256('second'), bytes: 6 });
    expect(readFileSync(stored, 'utf8')).toBe('second');
    expect(store.list('lora')).toHaveLength(1);
    expect(store.get(first.id)).toMatchObject({ sha256: sha256('second'), shortHash: sha256('second').slice(0, 10) });
  });

  it("moves the studio's own file; another run gets its own model with a unique name", async () => {
    const own = file('toy-job_1.safetensors', 'run one');
    const one = await saveTrainedLora(deps, { file: own, origin: own, name: 'Toy', move: true });
    expect(existsSync(own)).toBe(false);
    expect(readFileSync(path.join(deps.home.root, one.storedPath), 'utf8')).toBe('run one');
    const other = file('toy-job_2.safetensors', 'run two');
    const two = await saveTrainedLora(deps, { file: other, origin: other, name: 'toy', move: true });
    expect(two.name).toBe('toy-2');
    expect(store.list('lora').map((r) => r.name)).toEqual(['Toy', 'toy-2']);
  });

  it('the same bytes as a model already there add nothing and return that model', async () => {
    const a = file('a.safetensors', 'same');
    const kept = await saveTrainedLora(deps, { file: a, origin: a, name: 'a', move: false });
    const b = file('b.safetensors', 'same');
    expect(await saveTrainedLora(deps, { file: b, origin: b, name: 'b', move: false })).toMatchObject({ id: kept.id });
    expect(store.list('lora')).toHaveLength(1);
  });

  it('names are file-safe', () => {
    expect(trainedLoraName('Rex / the dog: v2?')).toBe('Rex _ the dog_ v2_');
    expect(trainedLoraName('..')).toBe('lora');
    expect(trainedLoraName('')).toBe('lora');
  });
});
