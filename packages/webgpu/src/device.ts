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

/** The GPU objects that npm `webgpu` hands out must stay reachable for the whole process:
 * when Dawn's instance is garbage collected, later submits abort or hang. */
let nodeGpu: GPU | null = null;

interface NodeWebGPUModule {
  create(flags: string[]): GPU;
  globals: object;
}

function isNode(): boolean {
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof proc?.versions?.node === 'string';
}

/**
 * On a machine without GPU hardware (no /dev/dri, no NVIDIA device nodes) but with Chromium's
 * SwiftShader installed (CI, containers, this project's dev machines), point the Vulkan
 * loader at SwiftShader instead of failing with "no adapter" (Mesa's CPU drivers do not
 * satisfy Dawn). An explicit VK_ICD_FILENAMES / VK_DRIVER_FILES always wins.
 */
async function preferSwiftShaderWithoutDriver(): Promise<void> {
  const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env;
  if (!env || env.VK_ICD_FILENAMES !== undefined || env.VK_DRIVER_FILES !== undefined) return;
  // A variable specifier keeps browser bundlers from trying to resolve node:fs.
  const fsSpecifier = 'node:fs';
  const fs = (await import(/* @vite-ignore */ fsSpecifier)) as typeof import('node:fs');
  const swiftShader = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!fs.existsSync(swiftShader)) return;
  const hasGpuDevice = fs.existsSync('/dev/dri') || (fs.existsSync('/dev') && fs.readdirSync('/dev').some((f) => f.startsWith('nvidia')));
  if (!hasGpuDevice) env.VK_ICD_FILENAMES = swiftShader;
}

async function nodeGPU(flags: readonly string[]): Promise<GPU> {
  if (nodeGpu && flags.length === 0) return nodeGpu;
  await preferSwiftShaderWithoutDriver();
  // A variable specifier keeps bundlers from pulling the native module into browser builds.
  const specifier = 'webgpu';
  let mod: NodeWebGPUModule;
  try {
    mod = (await import(/* @vite-ignore */ specifier)) as NodeWebGPUModule;
  } catch (err) {
    throw new Error(`@titans/webgpu: could not load the npm package "webgpu" (Dawn for Node): ${String(err)}`);
  }
  // GPUBufferUsage, GPUMapMode, ... are globals in browsers; Dawn provides them here.
  for (const [name, value] of Object.entries(mod.globals)) {
    if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
  }
  const gpu = mod.create([...flags]);
  if (flags.length === 0) nodeGpu = gpu;
  else keepAlive.push(gpu);
  return gpu;
}
const keepAlive: GPU[] = [];

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
