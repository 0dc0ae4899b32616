/** `pinhole tokenize --model DIR [--json] TEXT`: the raw CLIP BPE ids of the literal text. */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { PinholeError } from '../../../src-shared/errors';
import type { CommandContext } from '../command';
import { connectForCommand } from '../connection';
import { EXIT } from '../exit-codes';

export const TOKENIZE_USAGE = 'pinhole tokenize --model DIR [--json] TEXT';

export async function tokenizeCommand(ctx: CommandContext, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (!values.model) throw new PinholeError('INVALID_PARAMS', `--model DIR is required.\nUsage: ${TOKENIZE_USAGE}`);
  if (positionals.length > 1) {
    throw new PinholeError('INVALID_PARAMS', `Quote the text as one argument.\nUsage: ${TOKENIZE_USAGE}`);
  }
  const text = positionals[0] ?? '';
  const connection = await connectForCommand(ctx, { runJobs: 'none', events: false });
  try {
    const result = await connection.call('text.tokenize', { model: path.resolve(values.model), text });
    if (ctx.out.json) ctx.out.line(result);
    else ctx.out.info(`${result.count} tokens: ${result.ids.join(' ')}`, true);
    return EXIT.OK;
  } finally {
    await connection.close();
  }
}
