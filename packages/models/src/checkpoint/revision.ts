// The architecture revision a checkpoint was saved at (architectureRevision in config.ts):
// recorded in model.safetensors' `__metadata__` and compared on load, so weights saved before
// an architecture started computing something else are not silently loaded into it.
import { ARCHITECTURES, architectureRevision, architectureRevisionChanges, type ArchitectureName } from '../config.js';
import { CheckpointError } from './safetensors.js';

/** `__metadata__` key: the architecture the weights were saved from. */
export const ARCHITECTURE_KEY = 'titans.architecture';
/** `__metadata__` key: its revision when they were saved (absent in older checkpoints: revision 1). */
export const REVISION_KEY = 'titans.architectureRevision';

export interface RevisionOptions {
  /**
   * Load weights saved at another revision of the architecture anyway (default false: a
   * CheckpointRevisionError). They then compute something else than when they were saved.
   */
  readonly allowRevisionMismatch?: boolean;
  /**
   * The revision a checkpoint without a recorded one was saved at (default 1, from before
   * revisions were recorded). For callers that know it otherwise, e.g. a directory named by a
   * hash of a spec that includes the revision.
   */
  readonly assumeRevision?: number;
}

/** Weights saved at another revision of the model's architecture. */
export class CheckpointRevisionError extends CheckpointError {
  constructor(
    file: string,
    readonly architecture: ArchitectureName,
    readonly savedRevision: number,
    readonly currentRevision: number,
  ) {
    const changes = architectureRevisionChanges(architecture, savedRevision, currentRevision);
    super(file, `was saved by ${architecture} revision ${savedRevision}, but this version computes ${architecture} revision ${currentRevision}`
      + ` (${changes.join('; ')}); the same weights compute something else now. Retrain, or pass { allowRevisionMismatch: true } to load them anyway`);
  }
}

/** The architecture of a model (its `config.architecture`), or of a config object; null when neither names one. */
export function architectureOf(...candidates: unknown[]): ArchitectureName | null {
  for (const candidate of candidates) {
    if (typeof candidate !== 'object' || candidate === null) continue;
    const config = 'config' in candidate && typeof candidate.config === 'object' && candidate.config !== null ? candidate.config : candidate;
    const name = (config as { architecture?: unknown }).architecture;
    if (typeof name === 'string' && (ARCHITECTURES as readonly string[]).includes(name)) return name as ArchitectureName;
  }
  return null;
}

/** The metadata recording `architecture`'s current revision (none when the architecture is unknown). */
export function revisionMetadata(architecture: ArchitectureName | null): Record<string, string> {
  return architecture === null ? {} : { [ARCHITECTURE_KEY]: architecture, [REVISION_KEY]: String(architectureRevision(architecture)) };
}

/** The revision recorded in a weights file's metadata: 1 when it has none (saved before revisions were recorded). */
export function savedRevision(metadata: Readonly<Record<string, string>>, file: string): number {
  const raw = metadata[REVISION_KEY];
  if (raw === undefined) return 1;
  const revision = Number(raw);
  if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(revision) || revision < 1) throw new CheckpointError(file, `has an invalid ${REVISION_KEY} ${JSON.stringify(raw)} (expected a positive integer)`);
  return revision;
}

/**
 * Refuses weights saved at another revision of `architecture` (the model they load into),
 * or saved from another architecture, unless `allowRevisionMismatch`. Nothing to check
 * when the model names no architecture.
 */
export function checkRevision(architecture: ArchitectureName | null, metadata: Readonly<Record<string, string>>, file: string, options: RevisionOptions = {}): void {
  if (architecture === null || options.allowRevisionMismatch === true) return;
  const recorded = metadata[ARCHITECTURE_KEY];
  if (recorded !== undefined && recorded !== architecture) {
    throw new CheckpointError(file, `was saved from a ${recorded} model, not ${architecture}; pass { allowRevisionMismatch: true } to load it anyway`);
  }
  const saved = metadata[REVISION_KEY] === undefined && options.assumeRevision !== undefined ? options.assumeRevision : savedRevision(metadata, file);
  const current = architectureRevision(architecture);
  if (saved !== current) throw new CheckpointRevisionError(file, architecture, saved, current);
}
