// Build-time loader for the benchmarks page: every packages/*/bench-results/*.json (and
// apps/*/bench-results/*.json) that `pnpm bench` has written, reduced to tables.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface BenchTable {
  readonly title: string;
  readonly columns: string[];
  readonly rows: (string | number | boolean | null)[][];
}

export interface BenchFile {
  /** e.g. 'packages/memory/bench-results/memory.json' */
  readonly path: string;
  readonly packageName: string;
  /** Scalar top-level fields: date, node, cpu, backend, ... */
  readonly meta: Record<string, string | number | boolean>;
  readonly tables: BenchTable[];
  /** Set when the file could not be read as JSON. */
  readonly error?: string;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isRecord(value: Json): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function cell(value: Json | undefined): string | number | boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'object') return JSON.stringify(value);
  return value;
}

/** An array of objects as a table whose columns are the union of their keys, in first-seen order. */
function tableOf(title: string, items: Json[]): BenchTable | null {
  const records = items.filter(isRecord);
  if (records.length === 0) return null;
  const columns: string[] = [];
  for (const r of records) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  return { title, columns, rows: records.map((r) => columns.map((c) => cell(r[c]))) };
}

/** Package folder ('packages/memory') -> package name ('@titans/memory'). */
const packageNames = new Map<string, string>();

export function readBenchFile(root: string, path: string): BenchFile {
  const packageName = path.split('/').slice(0, 2).join('/');
  let json: Json;
  try {
    json = JSON.parse(readFileSync(join(root, path), 'utf8')) as Json;
  } catch (err) {
    return { path, packageName, meta: {}, tables: [], error: String(err) };
  }
  const meta: Record<string, string | number | boolean> = {};
  const tables: BenchTable[] = [];
  if (Array.isArray(json)) {
    const t = tableOf('results', json);
    if (t) tables.push(t);
  } else if (isRecord(json)) {
    for (const [key, value] of Object.entries(json)) {
      if (value === null) continue;
      if (typeof value !== 'object') meta[key] = value;
      else if (Array.isArray(value)) {
        const t = tableOf(key, value);
        if (t) tables.push(t);
      } else {
        const rows: Json[] = Object.entries(value).map(([name, v]): Json => (isRecord(v) ? { name, ...v } : { name, value: v }));
        const t = tableOf(key, rows);
        if (t) tables.push(t);
      }
    }
  }
  const name = typeof meta.package === 'string' ? meta.package : packageNames.get(packageName) ?? packageName;
  return { path, packageName: name, meta, tables };
}

/** Every bench-results JSON file of the workspace, sorted by path. */
export function findBenchFiles(root = repoRoot): string[] {
  const found: string[] = [];
  for (const group of ['packages', 'apps']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const pkg of readdirSync(dir).sort()) {
      const results = join(dir, pkg, 'bench-results');
      if (!existsSync(results)) continue;
      for (const file of readdirSync(results).sort()) if (file.endsWith('.json')) found.push(`${group}/${pkg}/bench-results/${file}`);
    }
  }
  return found;
}

/** Workspace packages with a `bench` script, by name and folder. */
export function benchPackages(root = repoRoot): { name: string; dir: string }[] {
  const out: { name: string; dir: string }[] = [];
  for (const group of ['packages', 'apps']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const pkg of readdirSync(dir).sort()) {
      const manifest = join(dir, pkg, 'package.json');
      if (!existsSync(manifest)) continue;
      const json = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; scripts?: Record<string, string> };
      if (json.scripts?.bench) out.push({ name: json.name ?? pkg, dir: `${group}/${pkg}` });
    }
  }
  return out;
}

export interface BenchData {
  readonly files: BenchFile[];
  /** Packages with a bench script and no results yet. */
  readonly notRun: string[];
}

/** What pages import: `import { data } from './benchmarks.data'` (VitePress fills it at build time). */
export declare const data: BenchData;

export default {
  load(): BenchData {
    for (const p of benchPackages()) packageNames.set(p.dir, p.name);
    const paths = findBenchFiles();
    const files = paths.map((path) => readBenchFile(repoRoot, path));
    const notRun = benchPackages()
      .filter((p) => !paths.some((path) => path.startsWith(`${p.dir}/`)))
      .map((p) => p.name);
    return { files, notRun };
  },
};
