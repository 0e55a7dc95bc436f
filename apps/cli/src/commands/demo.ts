// `titans demo`: the main job (what `pnpm demo` runs). See ../demo/demo.ts for what it does
// and ../demo/recipe.ts for every number it uses.
import { formatDuration } from '@titans/models';
import { EXIT, type Command } from '../command.js';
import { selectBackend } from '../backend.js';
import { expectPositional, parseArgs } from '../options.js';
import { checkWritableDirectory, isNonEmptyDirectory, outputDirectory } from '../paths.js';
import { UsageError } from '../command.js';
import { DEMO_MODELS, formatComparison, formatPasskeyDepths, runDemo } from '../demo/demo.js';
import { DEMO_RECIPE, quickRecipe } from '../demo/recipe.js';
import { writeDemoReport } from '../demo/report.js';

const usage = `usage: titans demo [--quick] [--out DIR] [--backend cpu|webgpu|auto] [--seed N] [--json] [--eager]

Trains a tiny Titans MAG and a sliding-window Transformer of the same size on compact
passkey retrieval and State of the Union text (about 5-8 minutes in all on 2 CPU cores),
evaluates both on passkey prompts 1x, 2x and 4x the training length (beyond the attention
window) and on held-out SOTU text, prints a comparison table and writes report.html (heat
maps, loss curves), the SVG figures, report.json and both checkpoints into --out.

  --quick        a tiny version that finishes in under a minute (a smoke test)
  --out DIR      default runs/demo-<timestamp> under the repository root
  --backend cpu|webgpu|auto, --seed N, --json (the results as JSON on stdout)
  --eager        train op by op instead of with compiled steps (the default); compiled
                 runs record the passkey answer loss at validations only

The recipe (sizes, learning rate, steps, lengths) is apps/cli/src/demo/recipe.ts.

exit codes: 0 done, 2 bad input, 130 interrupted`;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the main job: train a tiny MAG and an SWA Transformer, compare them, write a report',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { flags: ['quick', 'eager'] });
    expectPositional(parsed.positional, 0, 0, 'no arguments');
    const quick = parsed.flags.has('quick');
    const out = outputDirectory(parsed.global.out, 'demo', context);
    checkWritableDirectory(out);
    if (isNonEmptyDirectory(out)) throw new UsageError(`--out ${parsed.global.out ?? out} is not empty (the demo writes a fresh run)`);
    const backend = await selectBackend(parsed.global.backend);
    // Human-readable progress goes to stderr with --json (stdout is the JSON), stdout otherwise.
    const say = parsed.global.json ? context.err : context.out;
    if (backend.note) context.err(backend.note);
    const controller = new AbortController();
    const onSigint = (): void => {
      if (!controller.signal.aborted) context.err('titans demo: interrupted; stopping after this step');
      controller.abort();
    };
    process.on('SIGINT', onSigint);
    try {
      const result = await runDemo({
        recipe: quick ? quickRecipe(DEMO_RECIPE) : DEMO_RECIPE, quick, out, seed: parsed.global.seed, backend: backend.name, say, signal: controller.signal, eager: parsed.flags.has('eager'),
      });
      if (result.models.length < DEMO_MODELS.length) {
        context.err(`titans demo: interrupted after ${formatDuration(result.totalSeconds * 1000)}; checkpoints so far are in ${out}`);
        return 130;
      }
      const files = writeDemoReport(out, result);
      const report = files.find((f) => f.endsWith('.html'))!;
      if (parsed.global.json) context.out(JSON.stringify({ ...result, files }, null, 2));
      else {
        say('');
        say(formatComparison(result));
        say('');
        say(`passkey answers by needle depth (0% = start of the prompt, 100% = right before the question; attention window ${result.recipe.model.window} bytes):`);
        say(formatPasskeyDepths(result));
        say('');
        say(`total ${formatDuration(result.totalSeconds * 1000)}; report: ${report}`);
      }
      return EXIT.ok;
    } finally {
      process.off('SIGINT', onSigint);
      backend.close();
    }
  },
};
