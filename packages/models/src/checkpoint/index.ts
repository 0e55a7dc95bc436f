// Checkpoints: the safetensors format (bytes only, browser-safe), model state to and from
// safetensors bytes, and atomic checkpoint directories on disk (Node).
export {
  CheckpointError, MAX_HEADER_BYTES, decodeSafetensors, encodeSafetensors, firstNonFinite, headerLengthOf, parseSafetensorsHeader,
  type DecodeOptions, type HostTensor, type SafetensorsContents, type SafetensorsEntry, type SafetensorsHeader,
} from './safetensors.js';
export {
  ARCHITECTURE_KEY, CheckpointRevisionError, REVISION_KEY, architectureOf, checkRevision, revisionMetadata, savedRevision, type RevisionOptions,
} from './revision.js';
export { encodeModel, loadModelBytes, toHost, type NamedParameters, type StageOptions, type StatefulOptimizer } from './state.js';
export {
  CHECKPOINT_FILES, CheckpointLockedError, checkHeaderFits, checkOptimizerHeaderFits, LOCK_FILE, MixedCheckpointError, checkpointFiles, hasCheckpoint, inspectCheckpoint, loadCheckpoint,
  lockCheckpoint, nodeFileSystem, readCheckpointConfig, readSafetensors, recoverCheckpoint, saveCheckpoint, writeFilesAtomically, writeSafetensors,
  type CheckpointFileSystem, type CheckpointInspection, type CheckpointLock, type CheckpointLockOwner, type CheckpointMark,
  type LoadCheckpointOptions, type LoadedCheckpoint, type SaveCheckpointOptions,
} from './files.js';
