/// <reference types="@webgpu/types" />
// Acquiring a GPUDevice in Node (npm `webgpu`, Dawn) or in a browser (navigator.gpu), with
// errors that say what went wrong instead of a null adapter deep inside a kernel.

export interface DeviceOptions {
  /** Use this device as is (the backend does not own it and will not destroy it). */
  readonly device?: GPUDevice;
  /** Request the device from this adapter. */
  readonly adapter?: GPUAdapter;
  /** Use this GPU object instead of navigator.gpu / npm `webgpu` (tests, custom Dawn flags). */
  readonly gpu?: GPU;
  readonly powerPreference?: GPUPowerPreference;
  /** Extra Dawn flags for npm `webgpu`'s create() in Node (e.g. 'backend=vulkan'). */
  readonly nodeFlags?: readonly string[];
}

export interface AcquiredDevice {
  readonly device: GPUDevice;
  readonly adapterName: string;
  /** True when the device was created here (and so is destroyed by backend.destroy()). */
  readonly owned: boolean;
}

/** Creates a GPU object in Node (npm `webgpu`, Dawn) with the given Dawn flags. */
export type NodeGpuLoader = (flags: readonly string[]) => Promise<GPU>;

/** Set by the package's Node entry (src/node.ts, the "node" export condition); browser builds never load Dawn. */
let nodeGpuLoader: NodeGpuLoader | null = null;

/** @internal Called once by src/node.ts. */
export function registerNodeGpuLoader(loader: NodeGpuLoader): void {
  nodeGpuLoader = loader;
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

async function nodeGPU(flags: readonly string[]): Promise<GPU> {
  if (!nodeGpuLoader) {
    throw new Error(
      '@titans/webgpu: this is the browser build, loaded in Node, so WebGPU through the npm package "webgpu" (Dawn) is not available. ' +
      'Import @titans/webgpu from Node without forcing the browser build (its "node" export condition loads Dawn), or pass options.gpu / options.device.',
    );
  }
  return nodeGpuLoader(flags);
}

export function defaultGPU(): GPU | null {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu ?? null;
}

function adapterLabel(adapter: GPUAdapter): string {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const parts = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s);
  return parts.length > 0 ? parts.join(' ') : 'unknown adapter';
}

/** Limits worth raising above the WebGPU defaults when the adapter allows it. */
function wantedLimits(adapter: GPUAdapter): Record<string, number> {
  const l = adapter.limits;
  return {
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxBufferSize: l.maxBufferSize,
    maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, 10),
  };
}

export async function acquireDevice(options: DeviceOptions = {}): Promise<AcquiredDevice> {
  if (options.device) return { device: options.device, adapterName: 'user device', owned: false };
  let adapter = options.adapter ?? null;
  if (!adapter) {
    let gpu = options.gpu ?? defaultGPU();
    if (!gpu && isNode()) gpu = await nodeGPU(options.nodeFlags ?? []);
    if (!gpu) {
      throw new Error('@titans/webgpu: WebGPU is not available here (no navigator.gpu). Use a browser with WebGPU enabled, or Node with the npm package "webgpu".');
    }
    adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
    if (!adapter) {
      const hint = isNode()
        ? ' In Node this needs a Vulkan/Metal/D3D driver; on a machine without a GPU install libvulkan1 and a SwiftShader ICD and set VK_ICD_FILENAMES (e.g. /usr/lib/chromium/vk_swiftshader_icd.json).'
        : ' The browser exposes navigator.gpu but has no usable adapter (blocklisted GPU or WebGPU disabled).';
      throw new Error(`@titans/webgpu: no WebGPU adapter found.${hint}`);
    }
  }
  const name = adapterLabel(adapter);
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ requiredLimits: wantedLimits(adapter) });
  } catch (err) {
    throw new Error(`@titans/webgpu: requestDevice failed on ${name}: ${String(err)}`);
  }
  return { device, adapterName: name, owned: true };
}
