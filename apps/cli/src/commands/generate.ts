// `titans generate <checkpoint>`: continues a prompt (from --prompt, --prompt-file or stdin)
// and streams the continuation token by token. The prompt goes through the model in chunks
// that carry the streaming state (memory, caches), so prompts far longer than the attention
// window are read in full.
import { decodeStats, streamTokens, type LanguageModel } from '@titans/models';
import { EXIT, UsageError, resolveUserPath, type Command } from '../command.js';
import { selectBackend } from '../backend.js';
import { openCheckpoint } from '../checkpoint.js';
import { expectPositional, integerValue, numberValue, parseArgs } from '../options.js';
import { readUserFile } from '../paths.js';

const usage = `usage: titans generate <checkpoint-dir> [--prompt TEXT | --prompt-file FILE | < stdin] [options]

Streams the model's continuation of the prompt to stdout as it is decoded.

  --prompt TEXT          the prompt (otherwise --prompt-file, otherwise stdin)
  --prompt-file FILE     read the prompt from a file
  --max-tokens N         tokens to generate (default 200)
  --temperature T        0 = greedy (default 0.8)
  --top-k K, --top-p P, --min-p P   sampling filters (default off)
  --chunk N              prompt tokens per forward pass; the state carries across (default 256)
  --eager                decode op by op instead of with the compiled per-token step (the
                         default for models without attention; attention models decode
                         eagerly either way); the tokens are the same
  --allow-revision-mismatch   load weights saved by another revision of the architecture
  --backend cpu|webgpu|auto, --seed N (sampling), --json (no streaming; one JSON object)

exit codes: 0 done, 2 bad input`;

/** How the steps were decoded (compiled or eager, and why eager), for --json. */
function decodeSummary(model: LanguageModel): { compiledSteps: number; eagerSteps: number; eagerReason: string | null; replays: number; traces: number } {
  const s = decodeStats(model);
  return { compiledSteps: s.compiledSteps, eagerSteps: s.eagerSteps, eagerReason: s.eagerReason, replays: s.compile?.replays ?? 0, traces: s.compile?.traces ?? 0 };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export const generateCommand: Command = {
  name: 'generate',
  summary: 'continue a prompt (or stdin) from a checkpoint, streaming tokens as they are decoded',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { values: ['prompt', 'prompt-file', 'max-tokens', 'temperature', 'top-k', 'top-p', 'min-p', 'chunk'], flags: ['eager', 'allow-revision-mismatch'] });
    expectPositional(parsed.positional, 1, 1, 'a checkpoint directory');
    const v = parsed.values;
    const maxNewTokens = v['max-tokens'] ? integerValue('max-tokens', v['max-tokens'], { min: 1, max: 2 ** 20 }) : 200;
    const temperature = v.temperature ? numberValue('temperature', v.temperature, { min: 0 }) : 0.8;
    const topK = v['top-k'] ? integerValue('top-k', v['top-k'], { min: 0, max: 2 ** 31 - 1 }) : 0;
    const topP = v['top-p'] ? numberValue('top-p', v['top-p'], { min: 0, max: 1 }) : 1;
    const minP = v['min-p'] ? numberValue('min-p', v['min-p'], { min: 0, max: 1 }) : 0;
    const chunk = v.chunk ? integerValue('chunk', v.chunk, { min: 1, max: 2 ** 20 }) : 256;
    if (v.prompt !== undefined && v['prompt-file'] !== undefined) throw new UsageError('give --prompt or --prompt-file, not both');
    let prompt: string;
    if (v.prompt !== undefined) prompt = v.prompt;
    else if (v['prompt-file'] !== undefined) {
      prompt = readUserFile(resolveUserPath(v['prompt-file'], context), v['prompt-file']);
    } else if (!process.stdin.isTTY) prompt = await readStdin();
    else throw new UsageError('needs a prompt: --prompt TEXT, --prompt-file FILE or text on stdin');
    if (prompt.length === 0) throw new UsageError('the prompt is empty');
    const backend = await selectBackend(parsed.global.backend);
    if (backend.note) context.err(backend.note);
    try {
      const { model, tokenizer, config } = await openCheckpoint(parsed.positional[0]!, context, { allowRevisionMismatch: parsed.flags.has('allow-revision-mismatch') });
      const ids = tokenizer.encode(prompt);
      const stopIds = tokenizer.eosId === undefined ? [] : [tokenizer.eosId];
      const started = performance.now();
      let firstTokenMs = 0;
      const generated: number[] = [];
      let written = 0;
      const stream = !parsed.global.json;
      for await (const token of streamTokens(model, ids, {
        maxNewTokens, stopIds, prefillChunk: chunk, compile: !parsed.flags.has('eager'),
        sampling: { temperature, topK, topP, minP, seed: parsed.global.seed },
      })) {
        if (generated.length === 0) firstTokenMs = performance.now() - started;
        generated.push(token);
        if (stream) {
          // Decode everything so far and print what is new, holding back a cut multi-byte character.
          const text = tokenizer.decode(generated).replace(/\uFFFD$/, '');
          if (text.length > written) {
            process.stdout.write(text.slice(written));
            written = text.length;
          }
        }
      }
      const seconds = (performance.now() - started) / 1000;
      const text = tokenizer.decode(generated);
      const decodeSeconds = Math.max(1e-9, seconds - firstTokenMs / 1000);
      const stats = {
        architecture: config.architecture, promptTokens: ids.length, generatedTokens: generated.length,
        prefillSeconds: firstTokenMs / 1000, tokensPerSecond: generated.length > 1 ? (generated.length - 1) / decodeSeconds : null, backend: backend.name,
        decode: decodeSummary(model),
      };
      if (parsed.global.json) context.out(JSON.stringify({ ...stats, text, tokens: generated }, null, 2));
      else {
        if (text.length > written) process.stdout.write(text.slice(written));
        process.stdout.write('\n');
        context.err(`${stats.promptTokens} prompt tokens in ${stats.prefillSeconds.toFixed(2)}s (chunks of ${chunk}), ${generated.length} generated at ${stats.tokensPerSecond === null ? '-' : stats.tokensPerSecond.toFixed(1)} tokens/s`);
      }
      return EXIT.ok;
    } finally {
      backend.close();
    }
  },
};
