/**
 * Child process of engine-training-resume.test.ts: one `runTraining` from a JSON request (seeds as
 * decimal strings), printing `step N` and `checkpoint N` lines so the test can SIGKILL it mid-run.
 * argv: <requestJson>
 */
import { runTraining, type TrainRequest } from '../../src-main/engine/training';

async function main(): Promise<void> {
  const wire = JSON.parse(process.argv[2]!) as Omit<TrainRequest, 'seed'> & { seed: string };
  const request: TrainRequest = { ...wire, seed: BigInt(wire.seed) };
  await runTraining(request, {
    onEvent: (e) => {
      if (e.kind === 'step') process.stdout.write(`step ${e.step}\n`);
      if (e.kind === 'checkpoint') process.stdout.write(`checkpoint ${e.step}\n`);
    },
  });
  process.stdout.write('done\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
