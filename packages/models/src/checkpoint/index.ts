// Checkpoints: the safetensors format (bytes only, browser-safe), model state to and from
// safetensors bytes, and atomic checkpoint directories on disk (Node).
export {
  CheckpointError, MAX_HEADER_BYTES, decodeSafetensors, encodeSafetensors, type DecodeOptions, type HostTensor, type SafetensorsContents,
} from './safetensors.js';
export { encodeModel, loadModelBytes, toHost, type NamedParameters, type StatefulOptimizer } from './state.js';
export {
  CHECKPOINT_FILES, hasCheckpoint, loadCheckpoint, nodeFileSystem, readCheckpointConfig, readSafetensors, recoverCheckpoint, saveCheckpoint,
  writeFilesAtomically, writeSafetensors,
  type CheckpointFileSystem, type LoadCheckpointOptions, type LoadedCheckpoint, type SaveCheckpointOptions,
} from './files.js';
