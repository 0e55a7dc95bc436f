#!/usr/bin/env node
// Packs the publishable packages (every workspace package whose package.json is not
// "private") into one folder, each built first by its prepack. `pnpm -r pack` would also pack
// the private ones: the docs site (with its built pages, ~9 MB) and the tooling packages.
//
//   node tooling/scripts/pack-packages.mjs [--out DIR] [--list]
//
// --out: where the tarballs go (default .tmp/pack); --list: print the packages and stop.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
if (outIndex >= 0 && (args[outIndex + 1] === undefined || args[outIndex + 1].startsWith('--'))) {
  console.error('pack-packages: --out needs a directory');
  process.exit(2);
}
const unknown = args.filter((arg, i) => arg.startsWith('--') && arg !== '--out' && arg !== '--list' && (outIndex < 0 || i !== outIndex + 1));
if (unknown.length > 0) {
  console.error(`pack-packages: unknown option ${unknown.join(', ')} (options: --out DIR, --list)`);
  process.exit(2);
}
const out = resolve(root, outIndex >= 0 ? args[outIndex + 1] : '.tmp/pack');

/** The workspace folders (pnpm-workspace.yaml lists `<group>/*` patterns only). */
function workspaceDirs() {
  const yaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
  const groups = [...yaml.matchAll(/^\s+-\s+['"]?([\w.-]+)\/\*['"]?\s*$/gm)].map((m) => m[1]);
  if (groups.length === 0) throw new Error('pack-packages: no `<folder>/*` entries in pnpm-workspace.yaml');
  return groups.flatMap((group) => readdirSync(join(root, group)).map((name) => join(group, name)))
    .filter((dir) => existsSync(join(root, dir, 'package.json')));
}

const publishable = workspaceDirs()
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')) }))
  .filter(({ manifest }) => manifest.private !== true)
  .sort((a, b) => a.dir.localeCompare(b.dir));

if (args.includes('--list')) {
  for (const { dir, manifest } of publishable) console.log(`${manifest.name}@${manifest.version} (${dir})`);
  process.exit(0);
}

// pnpm as this script was started with it (`pnpm run pack:packages`), else the pinned one.
const execPath = process.env.npm_execpath;
const [command, prefix] = execPath && /pnpm/.test(execPath) ? [process.execPath, [execPath]] : ['npx', ['--yes', 'pnpm@10.34.0']];
mkdirSync(out, { recursive: true });
const filters = publishable.flatMap(({ manifest }) => ['--filter', manifest.name]);
const result = spawnSync(command, [...prefix, '-r', '--workspace-concurrency=2', ...filters, 'pack', '--pack-destination', out], {
  cwd: root,
  stdio: 'inherit',
  // onnxruntime-node's install script would try to download CUDA files.
  env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
});
if (result.status !== 0) process.exit(result.status ?? 1);
console.log(`pack-packages: ${publishable.length} tarballs in ${out}`);
