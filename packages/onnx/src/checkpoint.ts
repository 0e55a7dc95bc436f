// Checkpoint directory in, .onnx file out: what `titans export` calls. The model is
// rebuilt from the checkpoint's config.json, its weights loaded, then exported; the
// metadata is written next to the model as <file>.json (it is also inside the model).
import { createModel, defineConfig, loadCheckpoint, readCheckpointConfig, type ModelConfigInput } from '@titans/models';
import { exportOnnx, type ExportOptions, type OnnxModelMetadata } from './export.js';
import { nodeHost } from './node-host.js';

export type CheckpointExportOptions = ExportOptions;

export interface CheckpointExportResult {
  readonly modelFile: string;
  readonly metadataFile: string;
  readonly bytes: number;
  readonly metadata: OnnxModelMetadata;
}

/** Exports the model of checkpoint directory `checkpointDir` to `outFile` (Node). */
export async function exportCheckpointToOnnx(checkpointDir: string, outFile: string, options: CheckpointExportOptions): Promise<CheckpointExportResult> {
  const config = await readCheckpointConfig(checkpointDir);
  if (config === null || typeof config !== 'object' || !('architecture' in config)) {
    throw new Error(`exportCheckpointToOnnx: ${checkpointDir} has no config.json with an architecture (save checkpoints with the model config)`);
  }
  const model = createModel(defineConfig(config as ModelConfigInput));
  await loadCheckpoint(checkpointDir, { model });
  const { bytes, metadata } = exportOnnx(model, options);
  const { fs, path } = nodeHost('exportCheckpointToOnnx');
  await fs.mkdir(path.dirname(path.resolve(outFile)), { recursive: true });
  const metadataFile = `${outFile}.json`;
  await fs.writeFile(outFile, bytes);
  await fs.writeFile(metadataFile, `${JSON.stringify(metadata, null, 2)}\n`);
  return { modelFile: outFile, metadataFile, bytes: bytes.length, metadata };
}
