import { describe, expect, it } from 'vitest';
import type { JobProgress } from '../../src-shared/api';
import { conversionPrinter } from '../../src-main/cli/model-conversion';
import type { Output } from '../../src-main/cli/output';

/** An Output that records what each channel got. */
function recorder(mode: { json: boolean; bars: boolean }) {
  const lines: unknown[] = [];
  const infos: string[] = [];
  const bars: { label: string; progress: JobProgress | null }[] = [];
  const out: Output = {
    ...mode,
    line: (value) => lines.push(value),
    info: (message) => infos.push(message),
    progress: (label, progress) => bars.push({ label, progress }),
    endProgress: () => undefined,
  };
  return { out, lines, infos, bars };
}

/** How write-folder reports: each stage at its start and at its end. */
const REPORTS = [
  { stage: 'text_encoder weights', fraction: 0 },
  { stage: 'text_encoder weights', fraction: 0.2 },
  { stage: 'unet graph', fraction: 0.2 },
  { stage: 'unet graph', fraction: 0.2 }, // a repeat says nothing new
  { stage: 'unet graph', fraction: 1 },
];

describe('conversionPrinter', () => {
  it('with --json: one converting line per new report, and the human line on stderr', () => {
    const r = recorder({ json: true, bars: false });
    const print = conversionPrinter(r.out, '/m/model.safetensors');
    REPORTS.forEach(print);
    expect(r.lines).toEqual([
      { event: 'converting', stage: 'text_encoder weights', fraction: 0 },
      { event: 'converting', stage: 'text_encoder weights', fraction: 0.2 },
      { event: 'converting', stage: 'unet graph', fraction: 0.2 },
      { event: 'converting', stage: 'unet graph', fraction: 1 },
    ]);
    expect(r.infos).toEqual(['Converting /m/model.safetensors (once: the result is cached in the data home)']);
    expect(r.bars).toEqual([]);
  });

  it('without a terminal: a line as each stage starts and one at 100%', () => {
    const r = recorder({ json: false, bars: false });
    REPORTS.forEach(conversionPrinter(r.out, 'm.ckpt'));
    expect(r.infos.slice(1)).toEqual([
      'Converting the model: text_encoder weights 0%',
      'Converting the model: unet graph 20%',
      'Converting the model: unet graph 100%',
    ]);
    expect(r.lines).toEqual([]);
  });

  it('on a terminal: a bar in percent with the stage as its message', () => {
    const r = recorder({ json: false, bars: true });
    REPORTS.forEach(conversionPrinter(r.out, 'm.ckpt'));
    expect(r.infos).toHaveLength(1);
    expect(r.bars.map((b) => [b.label, b.progress?.step, b.progress?.total, b.progress?.message])).toEqual([
      ['Converting', 0, 100, 'text_encoder weights'],
      ['Converting', 20, 100, 'text_encoder weights'],
      ['Converting', 20, 100, 'unet graph'],
      ['Converting', 100, 100, 'unet graph'],
    ]);
  });
});
