// `titans export <checkpoint> --out model.onnx`: ONNX export through @titans/onnx, loaded
// on demand so the CLI works (and says so plainly) in builds without it.
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
so feeding outputs back in continues a stream exactly. Needs @titans/onnx.

  --out FILE       the .onnx file to write (required); FILE.json gets the metadata
  --seq-len N      tokens per call (default: MAC segment length, else 4 memory chunks, else 64)
  --batch N        sequences per call (default 1)
  --stateless      one pass from the initial state, no state inputs/outputs

exit codes: 0 exported, 1 ONNX export not available in this build, 2 bad input`;

/** What the CLI needs from @titans/onnx. */
interface OnnxModule {
  exportOnnx(model: LanguageModel, options: { sequenceLength: number; batch?: number; stateful?: boolean }): { bytes: Uint8Array; metadata: object };
}

/** @titans/onnx when it is installed and exports exportOnnx, else null. */
export async function loadOnnx(): Promise<OnnxModule | null> {
  // A variable specifier: the CLI does not depend on @titans/onnx at build time.
  const specifier = '@titans/onnx';
  try {
    const module = (await import(specifier)) as Partial<OnnxModule>;
    return typeof module.exportOnnx === 'function' ? (module as OnnxModule) : null;
  } catch {
    return null;
  }
}

function defaultSequenceLength(config: ModelConfig): number {
  if (config.architecture === 'mac') return config.segmentLength;
  if (config.architecture === 'transformer' || config.architecture === 'swa') return 64;
  return 4 * config.memory.chunkSize;
}

export const exportCommand: Command = {
  name: 'export',
  summary: 'export a checkpoint to ONNX (needs @titans/onnx)',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { values: ['seq-len', 'batch'], flags: ['stateless'] });
    expectPositional(parsed.positional, 1, 1, 'a checkpoint directory');
    if (parsed.global.out === undefined) throw new UsageError('needs --out MODEL.onnx');
    const sequenceLength = parsed.values['seq-len'] ? integerValue('seq-len', parsed.values['seq-len'], { min: 1 }) : undefined;
    const batch = parsed.values.batch ? integerValue('batch', parsed.values.batch, { min: 1 }) : 1;
    const file = resolve(context.cwd, parsed.global.out);
    const onnx = await loadOnnx();
    if (!onnx) {
      context.err('titans export: ONNX export is not available in this build (@titans/onnx is not installed)');
      return EXIT.failed;
    }
    const backend = await selectBackend(parsed.global.backend === 'auto' ? 'cpu' : parsed.global.backend);
    try {
      const { model, config } = await openCheckpoint(parsed.positional[0]!, context);
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
