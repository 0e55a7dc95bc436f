// `titans export <checkpoint> --out model.onnx`: ONNX export through @titans/onnx (a
// dependency of the CLI), loaded when the command runs so that other commands start without it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { LanguageModel, ModelConfig } from '@titans/models';
import { EXIT, UsageError, type Command } from '../command.js';
import { selectBackend } from '../backend.js';
import { openCheckpoint } from '../checkpoint.js';
import { expectPositional, integerValue, parseArgs } from '../options.js';

const usage = `usage: titans export <checkpoint-dir> --out MODEL.onnx [--seq-len N] [--batch N] [--stateless] [--json]

Exports the model's forward pass over pieces of --seq-len tokens as an ONNX graph. By default
the streaming state (memory weights, caches, position) is explicit graph input and output,
so feeding outputs back in continues a stream exactly.

  --out FILE       the .onnx file to write (required); FILE.json gets the metadata
  --seq-len N      tokens per call (default: MAC segment length, else 4 memory chunks, else 64)
  --batch N        sequences per call (default 1)
  --stateless      one pass from the initial state, no state inputs/outputs
  --allow-revision-mismatch   load weights saved by another revision of the architecture

exit codes: 0 exported, 1 @titans/onnx failed to load, 2 bad input`;

/** What the CLI needs from @titans/onnx. */
interface OnnxModule {
  exportOnnx(model: LanguageModel, options: { sequenceLength: number; batch?: number; stateful?: boolean }): { bytes: Uint8Array; metadata: object };
}

/** @titans/onnx, or the reason it could not be loaded (a broken install). */
export async function loadOnnx(): Promise<OnnxModule | { error: string }> {
  try {
    const module = (await import('@titans/onnx')) as Partial<OnnxModule>;
    if (typeof module.exportOnnx !== 'function') return { error: '@titans/onnx does not export exportOnnx' };
    return module as OnnxModule;
  } catch (error) {
    return { error: (error instanceof Error ? error.message : String(error)).split('\n')[0]! };
  }
}

function defaultSequenceLength(config: ModelConfig): number {
  if (config.architecture === 'mac') return config.segmentLength;
  if (config.architecture === 'transformer' || config.architecture === 'swa') return 64;
  return 4 * config.memory.chunkSize;
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'export a checkpoint to ONNX',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { values: ['seq-len', 'batch'], flags: ['stateless', 'allow-revision-mismatch'] });
    expectPositional(parsed.positional, 1, 1, 'a checkpoint directory');
    if (parsed.global.out === undefined) throw new UsageError('needs --out MODEL.onnx');
    const sequenceLength = parsed.values['seq-len'] ? integerValue('seq-len', parsed.values['seq-len'], { min: 1 }) : undefined;
    const batch = parsed.values.batch ? integerValue('batch', parsed.values.batch, { min: 1 }) : 1;
    const file = resolve(context.cwd, parsed.global.out);
    const onnx = await loadOnnx();
    if ('error' in onnx) {
      context.err(`titans export: @titans/onnx failed to load (${onnx.error}); reinstall @titans/cli`);
      return EXIT.failed;
    }
    const backend = await selectBackend(parsed.global.backend === 'auto' ? 'cpu' : parsed.global.backend);
    try {
      const { model, config } = await openCheckpoint(parsed.positional[0]!, context, { allowRevisionMismatch: parsed.flags.has('allow-revision-mismatch') });
      const length = sequenceLength ?? defaultSequenceLength(config);
      let exported: { bytes: Uint8Array; metadata: object };
      try {
        exported = onnx.exportOnnx(model, { sequenceLength: length, batch, stateful: !parsed.flags.has('stateless') });
      } catch (error) {
        throw new UsageError((error as Error).message.split('\n')[0]!);
      }
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, exported.bytes);
      writeFileSync(`${file}.json`, `${JSON.stringify(exported.metadata, null, 2)}\n`);
      const summary = { file, bytes: exported.bytes.length, architecture: config.architecture, sequenceLength: length, batch, stateful: !parsed.flags.has('stateless') };
      if (parsed.global.json) context.out(JSON.stringify(summary, null, 2));
      else context.out(`wrote ${file} (${exported.bytes.length} bytes; ${config.architecture}, ${length} tokens per call, batch ${batch}${summary.stateful ? ', streaming state as inputs/outputs' : ''})`);
      return EXIT.ok;
    } finally {
      backend.close();
    }
  },
};
