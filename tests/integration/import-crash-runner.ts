/**
 * Child process of import-crash.test.ts: runs one import job attempt against a data home the
 * way the queue would (checkpoint in the jobs table), printing `file <index>` per recorded
 * file, so the test can SIGKILL it mid-import and then run it again.
 * argv: <dataDir> <jobId> <paramsJson>
 */
import { Library, createImportJobHandler, type ImportCheckpoint } from '../../src-main/library';
import { openDataHome } from '../../src-main/platform/data-home';
import { JobStore } from '../../src-main/queue/job-store';
import { openDatabase } from '../../src-main/storage/database';

async function main(): Promise<void> {
  const [dataDir, jobId, paramsJson] = process.argv.slice(2) as [string, string, string];
  const home = openDataHome(dataDir);
  const db = openDatabase(home.database);
  const library = new Library({ db, home });
  const store = new JobStore(db);
  const handler = createImportJobHandler(library);
  const params = handler.params.parse(JSON.parse(paramsJson));
  if (!store.get(jobId))
    store.insert(
      { id: jobId, kind: handler.kind, lane: handler.lane, priority: 0, title: 'crash test', params },
      Date.now(),
    );
  const row = db.prepare('SELECT checkpoint FROM jobs WHERE id = ?').get(jobId) as { checkpoint: string | null };
  library.onDidImportFile.on((r) => process.stdout.write(`file ${r.index}\n`));
  const result = await handler.run(
    {
      jobId,
      attempt: 1,
      signal: new AbortController().signal,
      throwIfCanceled: () => {},
      progress: () => {},
      checkpoint: row.checkpoint ? (JSON.parse(row.checkpoint) as ImportCheckpoint) : null,
      saveCheckpoint: (checkpoint) => store.saveCheckpoint(jobId, checkpoint),
    },
    params,
  );
  process.stdout.write(`done ${JSON.stringify(result)}\n`);
  db.close();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
