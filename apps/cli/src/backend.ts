// Choosing the compute backend for --backend cpu|webgpu|auto. WebGPU comes from
// @titans/webgpu (Dawn through the npm `webgpu` package in Node). `auto` first asks a child
// process whether an adapter and device can be had, because Dawn prints its own diagnostics
// to the process's stderr when it finds none, and `auto` on a machine without a GPU should
// quietly mean the CPU.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { cpuBackend, getBackend, setBackend, type Backend } from '@titans/tensor';
import { UsageError } from './command.js';
import type { BackendChoice } from './options.js';

export interface SelectedBackend {
  readonly backend: Backend;
  /** 'cpu' or 'webgpu'. */
  readonly name: 'cpu' | 'webgpu';
  /** Why auto chose the CPU, when it did. */
  readonly note: string | undefined;
  /** Restores the previous backend and frees the device. */
  close(): void;
}

interface WebGPUModule {
  createWebGPUBackend?: () => Promise<Backend>;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

async function createWebGPU(): Promise<Backend> {
  let module: WebGPUModule;
  try {
    module = (await import('@titans/webgpu')) as WebGPUModule;
  } catch (error) {
    throw new Error(`@titans/webgpu failed to load (${firstLine(error)})`);
  }
  if (typeof module.createWebGPUBackend !== 'function') throw new Error('@titans/webgpu does not export createWebGPUBackend');
  return module.createWebGPUBackend();
}

/** Whether a WebGPU adapter and device can be created, asked in a child process (see above). */
export function probeWebGPU(): { ok: boolean; reason: string } {
  let webgpuUrl: string;
  try {
    const require = createRequire(import.meta.resolve('@titans/webgpu'));
    webgpuUrl = pathToFileURL(require.resolve('webgpu')).href;
  } catch (error) {
    return { ok: false, reason: `the npm package "webgpu" is not installed (${firstLine(error)})` };
  }
  const script = `
    const { create, globals } = await import(${JSON.stringify(webgpuUrl)});
    for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) globalThis[k] = v;
    const adapter = await create([]).requestAdapter();
    if (!adapter) { process.stdout.write('no WebGPU adapter found'); process.exit(1); }
    const device = await adapter.requestDevice();
    device.destroy();
    process.exit(0);`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  if (result.status === 0) return { ok: true, reason: '' };
  return { ok: false, reason: result.stdout.trim() || firstLine(result.stderr.trim() || `probe exited with ${String(result.status ?? result.signal)}`) };
}

/** Makes the chosen backend the default for new tensors (models are built after this). */
export async function selectBackend(choice: BackendChoice): Promise<SelectedBackend> {
  const previous = getBackend();
  let note: string | undefined;
  if (choice === 'auto') {
    const probe = probeWebGPU();
    if (!probe.ok) note = `auto: using the CPU (${probe.reason})`;
  }
  if (choice === 'webgpu' || (choice === 'auto' && note === undefined)) {
    let backend: Backend;
    try {
      backend = await createWebGPU();
    } catch (error) {
      if (choice === 'webgpu') throw new UsageError(`the webgpu backend is not available: ${firstLine(error)}`);
      return cpu(previous, `auto: using the CPU (${firstLine(error)})`);
    }
    setBackend(backend);
    return {
      backend, name: 'webgpu', note,
      close: () => {
        setBackend(previous);
        (backend as Backend & { destroy?: () => void }).destroy?.();
      },
    };
  }
  return cpu(previous, note);
}

function cpu(previous: Backend, note: string | undefined): SelectedBackend {
  setBackend(cpuBackend);
  return { backend: cpuBackend, name: 'cpu', note, close: () => setBackend(previous) };
}
