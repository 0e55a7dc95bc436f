/// <reference types="@webgpu/types" />
// Node entry of @titans/webgpu (the package's "node" export condition): the same API as the
// browser entry, plus WebGPU through the npm package "webgpu" (Dawn, an optional peer
// dependency), loaded on first use, and the SwiftShader fallback for machines without a GPU.
// Browser bundles resolve the default entry and never see this file, node:fs or Dawn.
import { existsSync, readdirSync } from 'node:fs';
import { registerNodeGpuLoader } from './device.js';

interface NodeWebGPUModule {
  create(flags: string[]): GPU;
  globals: object;
}

/** The GPU objects that npm `webgpu` hands out must stay reachable for the whole process:
 * when Dawn's instance is garbage collected, later submits abort or hang. */
let nodeGpu: GPU | null = null;
const keepAlive: GPU[] = [];

/**
 * On a machine without GPU hardware (no /dev/dri, no NVIDIA device nodes) but with Chromium's
 * SwiftShader installed (CI, containers, this project's dev machines), point the Vulkan
 * loader at SwiftShader instead of failing with "no adapter" (Mesa's CPU drivers do not
 * satisfy Dawn). An explicit VK_ICD_FILENAMES / VK_DRIVER_FILES always wins.
 */
function preferSwiftShaderWithoutDriver(): void {
  const env = process.env;
  if (env.VK_ICD_FILENAMES !== undefined || env.VK_DRIVER_FILES !== undefined) return;
  const swiftShader = '/usr/lib/chromium/vk_swiftshader_icd.json';
  if (!existsSync(swiftShader)) return;
  const hasGpuDevice = existsSync('/dev/dri') || (existsSync('/dev') && readdirSync('/dev').some((f) => f.startsWith('nvidia')));
  if (!hasGpuDevice) env.VK_ICD_FILENAMES = swiftShader;
}

async function loadDawn(flags: readonly string[]): Promise<GPU> {
  if (nodeGpu && flags.length === 0) return nodeGpu;
  preferSwiftShaderWithoutDriver();
  let mod: NodeWebGPUModule;
  try {
    mod = (await import('webgpu')) as unknown as NodeWebGPUModule;
  } catch (err) {
    throw new Error(`@titans/webgpu: could not load the npm package "webgpu" (Dawn for Node; install it next to @titans/webgpu: npm install webgpu): ${String(err)}`);
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

registerNodeGpuLoader(loadDawn);

export * from './index.js';
