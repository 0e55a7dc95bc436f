// Shared vitest settings: workspace packages resolve to their TypeScript sources, so tests
// never need a build step first.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type ViteUserConfig } from 'vitest/config';

const root = fileURLToPath(new URL('..', import.meta.url));
// Tests run in Node, so packages with a Node entry (their "node" export condition: file
// access, Dawn) resolve to it, as they do for users in Node.
const sources: Record<string, string> = {
  '@titans/tensor': 'packages/tensor/src/index.ts',
  '@titans/webgpu': 'packages/webgpu/src/node.ts',
  '@titans/memory': 'packages/memory/src/index.ts',
  '@titans/models': 'packages/models/src/node.ts',
  '@titans/data': 'packages/data/src/node.ts',
  '@titans/eval': 'packages/eval/src/node.ts',
  '@titans/experiments': 'packages/experiments/src/index.ts',
  '@titans/onnx': 'packages/onnx/src/node.ts',
  '@titans/test-utils': 'tooling/test-utils/src/index.ts',
};
// A package's own tests import ../src/index.ts; its Node entry is loaded first so that what
// it sets up (Dawn for @titans/webgpu, Node's file system) is there, as for users in Node.
const ownNodeEntry = join(process.cwd(), 'src', 'node.ts');

// WebGPU tests run on SwiftShader where no GPU driver is set up (CI, this machine).
const swiftShader = '/usr/lib/chromium/vk_swiftshader_icd.json';
const vulkanEnv: Record<string, string> =
  process.env.VK_ICD_FILENAMES === undefined && existsSync(swiftShader) ? { VK_ICD_FILENAMES: swiftShader } : {};
// Dawn's Vulkan setup complains on stderr without a runtime directory (headless CI).
if (process.env.XDG_RUNTIME_DIR === undefined) {
  const runtimeDir = join(tmpdir(), `titans-xdg-${process.getuid?.() ?? 0}`);
  mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
  vulkanEnv.XDG_RUNTIME_DIR = runtimeDir;
}

export function packageConfig(overrides: ViteUserConfig['test'] = {}): ViteUserConfig {
  return defineConfig({
    resolve: {
      alias: Object.entries(sources).map(([name, path]) => ({
        find: new RegExp(`^${name}$`),
        replacement: `${root}${path}`,
      })),
    },
    test: {
      include: ['test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks',
      ...(existsSync(ownNodeEntry) ? { setupFiles: [ownNodeEntry] } : {}),
      env: vulkanEnv,
      // Each package also writes a JSON report; tooling/scripts/test-summary.mjs adds them up.
      reporters: ['default', ['json', { outputFile: `${root}.test-results/${basename(process.cwd())}.json` }]],
      ...overrides,
    },
  });
}
