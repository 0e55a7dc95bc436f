// Shared state of the demos that run shipped checkpoints (NIAH, memory vs sliding window):
// the WebGPU toggle, the manifest loaded on mount, and a run wrapper that keeps the
// progress bar, the status line and the error message.
import { onMounted, ref, type Ref } from 'vue';
import { withBase } from 'vitepress';
import type { CheckpointManifest } from './checkpoints';

export type DemoState = 'idle' | 'running' | 'done' | 'error';

/** Progress callback in the shape the demo runners take. */
export type OnProgress = (done: number, total: number, label: string) => void;

export interface CheckpointDemo {
  readonly preferWebGPU: Ref<boolean>;
  readonly webgpuExposed: Ref<boolean>;
  readonly manifest: Ref<CheckpointManifest | null>;
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

/** `onManifest` runs once the manifest is loaded (e.g. to preselect models). */
export function useCheckpointDemo(onManifest?: (manifest: CheckpointManifest) => void): CheckpointDemo {
  const demo: CheckpointDemo = {
    preferWebGPU: ref(true),
    webgpuExposed: ref(false),
    manifest: ref<CheckpointManifest | null>(null),
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
  onMounted(async () => {
    demo.webgpuExposed.value = 'gpu' in navigator;
    demo.preferWebGPU.value = demo.webgpuExposed.value;
    if (!loadCheckpoints) return;
    try {
      const manifest = await (await loadCheckpoints()).loadManifest(withBase('/'));
      demo.manifest.value = manifest;
      onManifest?.(manifest);
    } catch (err) {
      demo.error.value = message(err);
      demo.state.value = 'error';
    }
  });
  return demo;
}
