// The checkpoint sets the site ships, one folder each under public/checkpoints/. Kept free
// of the workspace packages so the pages' components can import it without pulling the
// models into the server-side render.
import type { CheckpointManifest } from './checkpoints';

/** 'scale': the scale plan's best models, in checkpoints/scale/; 'full': the full plan's tiny models, in checkpoints/ itself. */
export type CheckpointSet = 'scale' | 'full';

/** The sets in the order the demos offer them (the first one that loads is the default). */
export const CHECKPOINT_SETS: readonly CheckpointSet[] = ['scale', 'full'];

export function isCheckpointSet(value: unknown): value is CheckpointSet {
  return typeof value === 'string' && (CHECKPOINT_SETS as readonly string[]).includes(value);
}

/** The folder URL of a checkpoint set under `base` (VitePress's site base, e.g. '/' or '/titans-ts/'). */
export function checkpointsUrl(base: string, set: CheckpointSet = 'full'): string {
  return `${base.endsWith('/') ? base : `${base}/`}checkpoints/${set === 'full' ? '' : `${set}/`}`;
}

/** How the demos name a set: its plan, the size of its models, the lengths it was evaluated at. */
export function setLabel(manifest: CheckpointManifest): string {
  const k = manifest.models.map((m) => Math.round(m.parameters / 1000));
  const sizes = Math.min(...k) === Math.max(...k) ? `${k[0]}k` : `${Math.min(...k)}k-${Math.max(...k)}k`;
  const { lengths, trainLength } = manifest.task;
  const multiples = `${Math.min(...lengths) / trainLength}x-${Math.max(...lengths) / trainLength}x`;
  return `${manifest.source.plan} plan (${sizes} parameters, ${multiples})`;
}
