// Shared state of the demos that run shipped checkpoints (NIAH, memory vs sliding window):
// the WebGPU toggle, the checkpoint sets' manifests loaded on mount (the scale plan's by
// default where it loads, else the full plan's), the set switch, and a run wrapper that
// keeps the progress bar, the status line and the error message.
import { computed, onMounted, ref, watch, type ComputedRef, type Ref } from 'vue';
import { withBase } from 'vitepress';
import type { CheckpointManifest } from './checkpoints';
import { CHECKPOINT_SETS, checkpointsUrl, setLabel, type CheckpointSet } from './sets';

export type DemoState = 'idle' | 'running' | 'done' | 'error';

/** Progress callback in the shape the demo runners take. */
export type OnProgress = (done: number, total: number, label: string) => void;

/** A checkpoint set whose manifest loaded. */
export interface LoadedSet {
  readonly set: CheckpointSet;
  readonly label: string;
  readonly manifest: CheckpointManifest;
  /** The manifest's URL on this site (to link it). */
  readonly manifestUrl: string;
}

export interface CheckpointDemo {
  readonly preferWebGPU: Ref<boolean>;
  readonly webgpuExposed: Ref<boolean>;
  /** The sets that loaded, in CHECKPOINT_SETS order. */
  readonly sets: Ref<LoadedSet[]>;
  /** The set the demo runs; switching it switches `manifest`. */
  readonly set: Ref<CheckpointSet>;
  /** Sets that did not load, and why (the demo still runs the others). */
  readonly setErrors: Ref<string[]>;
  readonly current: ComputedRef<LoadedSet | null>;
  readonly manifest: ComputedRef<CheckpointManifest | null>;
  readonly state: Ref<DemoState>;
  readonly progress: Ref<number>;
  readonly progressLabel: Ref<string>;
  readonly error: Ref<string>;
  /** Runs `body` with the progress reset and wired in; errors end in state 'error'. */
  runWithProgress(body: (onProgress: OnProgress) => Promise<void>): Promise<void>;
}

const loadCheckpoints = import.meta.env.SSR ? null : () => import('./checkpoints');

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** `onManifest` runs once a set's manifest is the current one (on load and on each switch, e.g. to preselect models). */
export function useCheckpointDemo(onManifest?: (manifest: CheckpointManifest, set: CheckpointSet) => void): CheckpointDemo {
  const sets = ref<LoadedSet[]>([]);
  const set = ref<CheckpointSet>(CHECKPOINT_SETS[0]!);
  const current = computed(() => sets.value.find((s) => s.set === set.value) ?? null);
  const demo: CheckpointDemo = {
    preferWebGPU: ref(true),
    webgpuExposed: ref(false),
    sets,
    set,
    setErrors: ref<string[]>([]),
    current,
    manifest: computed(() => current.value?.manifest ?? null),
    state: ref<DemoState>('idle'),
    progress: ref(0),
    progressLabel: ref(''),
    error: ref(''),
    async runWithProgress(body) {
      demo.state.value = 'running';
      demo.error.value = '';
      demo.progress.value = 0;
      demo.progressLabel.value = 'loading the checkpoints…';
      try {
        await body((done, total, label) => {
          demo.progress.value = done / total;
          demo.progressLabel.value = `${label} (${done}/${total})`;
        });
        demo.state.value = 'done';
      } catch (err) {
        demo.error.value = message(err);
        demo.state.value = 'error';
      }
    },
  };
  watch(current, (now) => {
    if (!now) return;
    // A result of the other set no longer matches the controls.
    if (demo.state.value === 'done') demo.state.value = 'idle';
    onManifest?.(now.manifest, now.set);
  });
  onMounted(async () => {
    demo.webgpuExposed.value = 'gpu' in navigator;
    demo.preferWebGPU.value = demo.webgpuExposed.value;
    if (!loadCheckpoints) return;
    const module = await loadCheckpoints();
    const base = withBase('/');
    const settled = await Promise.allSettled(CHECKPOINT_SETS.map((s) => module.loadManifest(base, s)));
    const loaded: LoadedSet[] = [];
    const errors: string[] = [];
    settled.forEach((outcome, i) => {
      const s = CHECKPOINT_SETS[i]!;
      if (outcome.status === 'fulfilled') loaded.push({ set: s, label: setLabel(outcome.value), manifest: outcome.value, manifestUrl: `${checkpointsUrl(base, s)}manifest.json` });
      else errors.push(`the ${s} checkpoints: ${message(outcome.reason)}`);
    });
    demo.setErrors.value = errors;
    if (loaded.length === 0) {
      demo.error.value = `No checkpoints could be loaded (${errors.join('; ')})`;
      demo.state.value = 'error';
      return;
    }
    set.value = loaded[0]!.set;
    sets.value = loaded;
  });
  return demo;
}
