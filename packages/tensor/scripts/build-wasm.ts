// Assembles src/cpu/wasm/kernels.wat and kernels-fma.wat and writes kernels.generated.ts and
// kernels-fma.generated.ts. Run with `pnpm --filter @titans/tensor build:wasm`; `--check` only
// verifies that the committed files are up to date (exit code 1 when one is not).
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import {
  FMA_GENERATED_PATH, GENERATED_PATH, assembleFmaKernels, assembleKernels, renderFmaGeneratedModule, renderGeneratedModule,
} from '../src/cpu/wasm/assemble.ts';

const outputs: [string, string][] = [
  [GENERATED_PATH, renderGeneratedModule(await assembleKernels())],
  [FMA_GENERATED_PATH, renderFmaGeneratedModule(await assembleFmaKernels())],
];
const check = process.argv.includes('--check');
let stale = false;
for (const [path, text] of outputs) {
  if (check) {
    let current = '';
    try { current = readFileSync(path, 'utf8'); } catch { /* missing counts as stale */ }
    if (current !== text) {
      console.error(`${basename(path)} is stale: run \`pnpm --filter @titans/tensor build:wasm\``);
      stale = true;
    } else {
      console.log(`${basename(path)} is up to date`);
    }
  } else {
    writeFileSync(path, text);
    console.log(`wrote ${path}`);
  }
}
if (stale) process.exit(1);
