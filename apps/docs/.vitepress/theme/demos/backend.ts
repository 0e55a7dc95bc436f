// Which backend a demo computes on: WebGPU when the browser has a usable adapter, else the
// CPU reference backend. The choice is made once per page load and shown on every demo.
import { cpuBackend, setBackend, type Backend } from '@titans/tensor';
import { createWebGPUBackend } from '@titans/webgpu';

export interface ActiveBackend {
  readonly backend: Backend;
  /** What the page shows, e.g. 'WebGPU (Google SwiftShader)' or 'CPU (no WebGPU: ...)'. */
  readonly label: string;
  readonly kind: 'webgpu' | 'cpu';
}

let webgpu: Promise<ActiveBackend> | null = null;

function cpu(reason: string): ActiveBackend {
  return { backend: cpuBackend, kind: 'cpu', label: `CPU (${reason})` };
}

/** The WebGPU backend (created once), or the CPU backend with the reason WebGPU was not used. */
export async function pickBackend(preferWebGPU: boolean): Promise<ActiveBackend> {
  let active: ActiveBackend;
  if (!preferWebGPU) {
    active = cpu('chosen');
  } else {
    webgpu ??= createWebGPUBackend()
      .then((backend): ActiveBackend => ({ backend, kind: 'webgpu', label: `WebGPU (${backend.adapterName})` }))
      .catch((err: unknown) => cpu(`WebGPU unavailable: ${err instanceof Error ? err.message : String(err)}`));
    active = await webgpu;
  }
  setBackend(active.backend);
  return active;
}

/** True when the page can ask for a WebGPU adapter at all. */
export function webgpuExposed(): boolean {
  return typeof navigator !== 'undefined' && 'gpu' in navigator;
}

/** Lets the page repaint between pieces of work (progress bars, partial plots). */
export function nextFrame(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** An SVG string as an <img> source: each chart stays a separate document (ids, styles). */
export function svgDataUrl(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}
