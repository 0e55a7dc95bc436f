// Assembles src/cpu/wasm/kernels.wat and writes src/cpu/wasm/kernels.generated.ts.
// Run with `pnpm --filter @titans/tensor build:wasm`; `--check` only verifies that the
// committed file is up to date (exit code 1 when it is not).
import { readFileSync, writeFileSync } from 'node:fs';
import { GENERATED_PATH, assembleKernels, renderGeneratedModule } from '../src/cpu/wasm/assemble.ts';

const text = renderGeneratedModule(await assembleKernels());
if (process.argv.includes('--check')) {
  let current = '';
  try { current = readFileSync(GENERATED_PATH, 'utf8'); } catch { /* missing counts as stale */ }
  if (current !== text) {
    console.error('kernels.generated.ts is stale: run `pnpm --filter @titans/tensor build:wasm`');
    process.exit(1);
  }
  console.log('kernels.generated.ts is up to date');
} else {
  writeFileSync(GENERATED_PATH, text);
  console.log(`wrote ${GENERATED_PATH}`);
}
