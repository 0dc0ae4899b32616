/**
 * `pinhole models import|list|remove|rename|default|download`: the models library from the
 * command line. `import` prints one outcome per file (CONTRACTS) and exits 0 once every file was
 * processed, rejected ones included; `download` is its own command (models-download.ts).
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ModelImportJobResult, ModelKind, PredictionType, type ModelEntry } from '../../../src-shared/api';
import { PinholeError } from '../../../src-shared/errors';
import type { CommandContext } from '../command';
import { connectForCommand, type CoreConnection } from '../connection';
import { EXIT } from '../exit-codes';
import { followJobToSuccess } from '../follow-job';
import { modelsDownloadCommand } from './models-download';

export const MODELS_USAGE =
  'pinhole models import <files…> [--name N] [--prediction epsilon|v_prediction] [--json]\n' +
  '      (checkpoints, LoRAs, VAEs, embeddings; --prediction is stored with checkpoints)\n' +
  '  pinhole models list [--kind checkpoint|lora|vae|embedding] [--json]\n' +
  '  pinhole models remove NAME [--kind K] [--force] [--json]\n' +
  '  pinhole models rename NAME NEW_NAME [--kind K] [--json]\n' +
  '  pinhole models default NAME [--kind K] [--json]\n' +
  '  pinhole models download URL [--sha256 HEX] [--name N] [--json]';

export async function modelsCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'import':
      return importModels(ctx, rest);
    case 'list':
      return listModels(ctx, rest);
    case 'remove':
      return removeModel(ctx, rest);
    case 'rename':
      return renameModel(ctx, rest);
    case 'default':
      return defaultModel(ctx, rest);
    case 'download':
      return modelsDownloadCommand(ctx, rest);
    default:
      throw new PinholeError(
        'INVALID_PARAMS',
        `${sub === undefined ? 'Name a models command' : `Unknown models command "${sub}"`}.\nUsage: ${MODELS_USAGE}`,
      );
  }
}

async function importModels(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { name: { type: 'string' }, prediction: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0)
    throw new PinholeError('INVALID_PARAMS', `Name at least one file.\nUsage: ${MODELS_USAGE}`);
  if (values.name !== undefined && positionals.length > 1) {
    throw new PinholeError('INVALID_PARAMS', '--name can be given with a single file only.');
  }
  const prediction = parsePrediction(values.prediction);
  const { out } = ctx;
  const connection = await connectForCommand(ctx, { runJobs: 'own', events: true });
  try {
    const paths = positionals.map((p) => path.resolve(p));
    const { jobId } = await connection.call('models.import', { paths, name: values.name, prediction });
    const final = await followJobToSuccess(connection, jobId, 'model import', (job) =>
      out.progress('Importing', job.progress),
    ).finally(() => out.endProgress());
    const { files } = ModelImportJobResult.parse(final.result);
    const counts = { imported: 0, duplicate: 0, rejected: 0 };
    for (const f of files) {
      counts[f.status]++;
      if (out.json)
        out.line({
          file: f.file,
          status: f.status,
          ...(f.reason ? { reason: f.reason } : {}),
          ...(f.name ? { name: f.name } : {}),
          ...(f.kind ? { kind: f.kind } : {}),
        });
      else if (f.status === 'rejected') out.info(`rejected  ${f.file}: ${f.reason ?? 'unknown reason'}`);
      else if (f.status === 'duplicate') out.info(`duplicate ${f.file}: ${f.reason ?? ''}`);
      else out.info(`imported  ${f.file} as ${f.kind} "${f.name}"`);
    }
    out.info(`${counts.imported} imported, ${counts.duplicate} duplicate, ${counts.rejected} rejected (job ${jobId})`);
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}

function parseKind(value: string | undefined): ModelKind | undefined {
  if (value === undefined) return undefined;
  const kind = ModelKind.safeParse(value);
  if (!kind.success)
    throw new PinholeError('INVALID_PARAMS', `--kind must be one of ${ModelKind.options.join(', ')}, not "${value}"`);
  return kind.data;
}

function parsePrediction(value: string | undefined): PredictionType | undefined {
  if (value === undefined) return undefined;
  const prediction = PredictionType.safeParse(value);
  if (!prediction.success) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `--prediction must be one of ${PredictionType.options.join(', ')}, not "${value}"`,
    );
  }
  return prediction.data;
}

function formatSize(bytes: number | null): string {
  if (bytes === null) return '';
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(2)} GB` : `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

async function listModels(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { kind: { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
  });
  const connection = await connectForCommand(ctx, { runJobs: 'none', events: false });
  try {
    const models = await connection.call('models.list', { kind: parseKind(values.kind) });
    for (const m of models) {
      if (ctx.out.json) {
        ctx.out.line(m);
        continue;
      }
      const facts = [
        m.kind,
        m.family ?? '?',
        m.nativeResolution ? `${m.nativeResolution}px` : '',
        formatSize(m.sizeBytes),
        m.shortHash ?? '',
        m.source,
        m.prediction ?? '',
        m.isDefault ? 'default' : '',
      ]
        .filter(Boolean)
        .join('  ');
      ctx.out.info(`${m.name}  ${facts}${m.error ? `  (cannot be read: ${m.error})` : ''}\n    ${m.path}`, true);
    }
    if (!ctx.out.json && models.length === 0) ctx.out.info('No models yet: pinhole models import FILE', true);
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}

/** The one library model called `name` (of `kind`); NOT_FOUND or an ambiguity the user resolves with --kind. */
async function findModel(
  connection: CoreConnection,
  name: string,
  kind: ModelKind | undefined,
): Promise<ModelEntry & { id: string }> {
  const all = await connection.call('models.list', { kind });
  const lower = name.toLowerCase();
  const matches = all.filter((m): m is ModelEntry & { id: string } => m.id !== null && m.name.toLowerCase() === lower);
  if (matches.length === 0) {
    const folder = all.find((m) => m.id === null && m.name.toLowerCase() === lower);
    throw new PinholeError(
      'NOT_FOUND',
      folder
        ? `"${name}" is a model folder (${folder.path}), not a library file: change it on disk.`
        : `No model called "${name}" in the library${kind ? ` (kind ${kind})` : ''}.`,
    );
  }
  if (matches.length > 1) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `Several models are called "${name}" (${matches.map((m) => m.kind).join(', ')}): add --kind.`,
    );
  }
  return matches[0]!;
}

async function removeModel(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      kind: { type: 'string' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new PinholeError('INVALID_PARAMS', `Name one model.\nUsage: ${MODELS_USAGE}`);
  const connection = await connectForCommand(ctx, { runJobs: 'none', events: false });
  try {
    const model = await findModel(connection, positionals[0]!, parseKind(values.kind));
    const { removed, usedBy } = await connection.call('models.remove', { id: model.id, force: values.force });
    if (ctx.out.json) ctx.out.line({ name: model.name, kind: model.kind, removed, usedBy });
    else {
      for (const user of usedBy) ctx.out.info(`warning: it was used by ${user}`);
      ctx.out.info(`Removed the ${model.kind} "${model.name}".`);
    }
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}

async function renameModel(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { kind: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 2)
    throw new PinholeError('INVALID_PARAMS', `Give the model's name and its new name.\nUsage: ${MODELS_USAGE}`);
  const connection = await connectForCommand(ctx, { runJobs: 'none', events: false });
  try {
    const model = await findModel(connection, positionals[0]!, parseKind(values.kind));
    const renamed = await connection.call('models.rename', { id: model.id, name: positionals[1]! });
    if (ctx.out.json) ctx.out.line(renamed);
    else ctx.out.info(`Renamed the ${model.kind} "${model.name}" to "${renamed.name}".`);
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}

async function defaultModel(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { kind: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length !== 1) throw new PinholeError('INVALID_PARAMS', `Name one model.\nUsage: ${MODELS_USAGE}`);
  const connection = await connectForCommand(ctx, { runJobs: 'none', events: false });
  try {
    const model = await findModel(connection, positionals[0]!, parseKind(values.kind));
    const updated = await connection.call('models.setDefault', { id: model.id });
    if (ctx.out.json) ctx.out.line(updated);
    else ctx.out.info(`"${updated.name}" is now the default ${updated.kind}.`);
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}
