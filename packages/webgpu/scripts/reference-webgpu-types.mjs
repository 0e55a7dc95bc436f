// After tsdown: every declaration file of dist/ starts with a reference to @webgpu/types (a
// dependency of this package), so GPUDevice, GPUBuffer, ... resolve for consumers that
// type-check libraries (skipLibCheck: false) without adding @webgpu/types themselves.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const REFERENCE = '/// <reference types="@webgpu/types" />\n';
const dist = new URL('../dist/', import.meta.url).pathname;
for (const name of readdirSync(dist)) {
  if (!name.endsWith('.d.mts')) continue;
  const file = join(dist, name);
  const text = readFileSync(file, 'utf8');
  if (!text.startsWith(REFERENCE)) writeFileSync(file, REFERENCE + text);
}
