// Makes sure the system packages the test-suite needs are present: WebGPU runs through
// Dawn on SwiftShader (Debian's libvulkan1 + chromium ship the Vulkan loader and the
// SwiftShader driver) and browser tests drive Debian's Chromium. As root on Debian they
// are installed with apt-get; otherwise the script says what to install and stops.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

function missingPackages() {
  const missing = new Set();
  if (!existsSync('/usr/bin/chromium') || !existsSync('/usr/lib/chromium/vk_swiftshader_icd.json')) missing.add('chromium');
  const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'];
  const haveVulkan = libDirs.some((d) => existsSync(d) && readdirSync(d).includes('libvulkan.so.1'));
  if (!haveVulkan) missing.add('libvulkan1');
  return [...missing];
}

let missing = missingPackages();
if (missing.length > 0 && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  console.log(`titans: installing system packages for the WebGPU and browser tests: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
  missing = missingPackages();
}
if (missing.length > 0) {
  console.error(`titans: the WebGPU and browser tests need Debian packages that are missing: ${missing.join(' ')}`);
  console.error(`        install them with: sudo apt-get install -y ${missing.join(' ')}`);
  process.exit(2);
}
