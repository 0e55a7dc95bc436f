// Checks that the system packages the test-suite needs (WebGPU through SwiftShader, Chromium
// for browser tests) are present, and says how to install them when they are not.
import { existsSync } from 'node:fs';

const needed = [
  ['/usr/bin/chromium', 'chromium'],
  ['/usr/lib/chromium/vk_swiftshader_icd.json', 'chromium'],
];
const haveVulkan = ['/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/aarch64-linux-gnu/libvulkan.so.1'].some(existsSync);
const missing = needed.filter(([path]) => !existsSync(path)).map(([, pkg]) => pkg);
if (!haveVulkan) missing.push('libvulkan1');
if (missing.length > 0) {
  const pkgs = [...new Set(missing)].join(' ');
  console.error(`titans: the WebGPU and browser tests need Debian packages that are missing: ${pkgs}`);
  console.error(`        install them with: sudo apt-get install -y ${pkgs}   (or run: bash .ci/run)`);
  process.exit(2);
}
