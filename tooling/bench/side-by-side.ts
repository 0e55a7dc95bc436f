// Side-by-side CPU benchmarks against PyTorch, in one run on one machine: per-op overhead,
// the neural memory forward pass (module and scan, linear and MLP memory) and training
// tokens/s of a Transformer++. Our side runs ours/*.ts, the peer side peers/*.py (PyTorch
// eager, same shapes, same algorithm, same thread count), each in a fresh process, one after
// the other. The peer runs with `python3` (or TITANS_PEER_PYTHON, or /usr/bin/python3) when
// `import torch` works there; otherwise every peer figure is recorded as "peer not installed".
//
//   pnpm bench:peers                 (from the repository root)
//   pnpm bench:peers --quick         tiny shapes, a smoke run (seconds; what the test runs)
//   pnpm bench:peers --only ops,memory,train --out path.json
//
// Threads: 1 for the op and memory figures, 2 for training (TITANS_BENCH_THREADS_OPS,
// TITANS_BENCH_THREADS_TRAIN change them); the same number on both sides (THREADS for the
// peer, configureCpu({ threads }) for ours).
//
// It also picks up what the packages' own benches last wrote (packages/tensor/bench-results/*.json,
// packages/memory/bench-results/*.json, packages/models/bench-results/*.json): every number
// whose key names a compiled or fused measurement is listed, and every number whose key is
// one of the peer metrics below (e.g. `add_32x32_us` inside a `compiled` object) gets a row
// against this run's PyTorch figure, marked with the file's date (not the same run).
//
// Writes bench-results/side-by-side.json (side-by-side-quick.json with --quick) in this folder
// and prints a table with the ratio ours / PyTorch as speed (above 1: ours is faster).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

export type Group = 'ops' | 'memory' | 'train';
export const GROUPS: readonly Group[] = ['ops', 'memory', 'train'];

/** One figure measured on both sides. */
export interface Row {
  readonly group: Group | 'package';
  readonly name: string;
  readonly unit: 'us' | 'us/op' | 'tok/s';
  /** Which direction is better for the unit. */
  readonly better: 'lower' | 'higher';
  readonly ours: number | null;
  readonly pytorch: number | null;
  /** Our speed divided by PyTorch's (above 1: ours is faster); null when a side is missing. */
  readonly speedRatio: number | null;
  readonly threads: number;
  /** Where our figure came from when not from this run (a package bench's JSON), and its path in that file. */
  readonly source?: string;
  readonly path?: string;
  readonly note?: string;
}

export interface PeerStatus {
  readonly status: 'ran' | 'not installed';
  readonly python?: string;
  readonly torch?: string;
  readonly reason?: string;
}

export interface SideBySide {
  readonly benchmark: 'side-by-side';
  readonly date: string;
  readonly quick: boolean;
  readonly machine: { cpu: string; cores: number; node: string; loadAverageBefore: number[]; loadAverageAfter: number[] };
  readonly peer: PeerStatus;
  readonly peerEnv: Record<string, string>;
  readonly rows: Row[];
  /** Raw outputs of each script, by `${side}/${group}`: the full JSON line, or the error. */
  readonly raw: Record<string, unknown>;
  readonly packageBenches: { file: string; date: string; numbers: { path: string; value: number }[] }[];
  readonly failures: string[];
  readonly seconds: number;
}

/** ours / PyTorch as speed: for times, PyTorch's time over ours; for rates, ours over PyTorch's. */
export function speedRatio(ours: number | null, pytorch: number | null, better: 'lower' | 'higher'): number | null {
  if (ours === null || pytorch === null || !(ours > 0) || !(pytorch > 0)) return null;
  const r = better === 'lower' ? pytorch / ours : ours / pytorch;
  return Math.round(r * 1000) / 1000;
}

/** The printed table: one line per row. */
export function formatTable(rows: readonly Row[]): string {
  const fmt = (x: number | null, unit: string): string => (x === null ? '-' : `${x >= 100 ? Math.round(x).toLocaleString('en') : x.toFixed(x >= 10 ? 1 : 2)} ${unit}`);
  const body = rows.map((r) => [
    `${r.name}${r.threads > 1 ? ` (${r.threads} threads)` : ''}${r.source ? ` [${r.source}]` : ''}`,
    fmt(r.ours, r.unit), fmt(r.pytorch, r.unit), r.speedRatio === null ? (r.note ?? '-') : `${r.speedRatio.toFixed(2)}x`,
  ]);
  const header = ['measurement', 'ours', 'PyTorch', 'ours / PyTorch (speed)'];
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

// ---------------------------------------------------------------- what is measured

interface Metric {
  /** Key in both scripts' JSON (dotted path). */
  readonly key: string;
  /** Key in the peer's JSON when it differs from ours (our eager figure against PyTorch's one). */
  readonly peerKey?: string;
  readonly name: string;
  readonly unit: Row['unit'];
  readonly better: Row['better'];
}

interface Workload {
  readonly group: Group;
  readonly ours: string;
  readonly peer: string;
  readonly args: (quick: boolean) => string[];
  readonly metrics: readonly Metric[];
  /** Keys whose values must agree on both sides (the same model), checked when both ran. */
  readonly same?: readonly string[];
}

const WORKLOADS: readonly Workload[] = [
  {
    group: 'ops', ours: 'ours/op-overhead.ts', peer: 'peers/op_overhead.py',
    args: (quick) => ['--calls', quick ? '400' : '20000', '--warm-ms', quick ? '20' : '1000'],
    metrics: [
      { key: 'add_32x32_us', name: '32x32 add, per op', unit: 'us', better: 'lower' },
      { key: 'chain3_32x32_us_per_op', name: '3-op elementwise chain 32x32, per op', unit: 'us/op', better: 'lower' },
      { key: 'matmul_64x32x32_us', name: '64x32 @ 32x32 matmul', unit: 'us', better: 'lower' },
      { key: 'fwd_bwd_3ops_us_per_op', name: 'forward+backward of a 3-op graph, per op', unit: 'us/op', better: 'lower' },
    ],
  },
  {
    group: 'memory', ours: 'ours/memory-forward.ts', peer: 'peers/memory_forward.py',
    args: (quick) => (quick ? ['--tokens', '128', '--dim', '32', '--heads', '2', '--chunk', '16', '--reps', '1'] : ['--tokens', '4096', '--dim', '256', '--heads', '4', '--chunk', '64', '--reps', '5']),
    metrics: [
      { key: 'linear.moduleTokPerS', name: 'memory forward, linear, module', unit: 'tok/s', better: 'higher' },
      { key: 'linear.scanTokPerS', name: 'memory forward, linear, scan alone', unit: 'tok/s', better: 'higher' },
      { key: 'mlp.moduleTokPerS', name: 'memory forward, 2-layer MLP (4x), module', unit: 'tok/s', better: 'higher' },
      { key: 'mlp.scanTokPerS', name: 'memory forward, 2-layer MLP (4x), scan alone', unit: 'tok/s', better: 'higher' },
    ],
  },
  {
    group: 'train', ours: 'ours/lm-train.ts', peer: 'peers/lm_train.py',
    args: (quick) => (quick
      ? ['--dim', '32', '--layers', '1', '--heads', '2', '--mlp', '64', '--seq', '32', '--batch', '2', '--steps', '1']
      : ['--dim', '256', '--layers', '4', '--heads', '4', '--mlp', '688', '--seq', '512', '--batch', '8', '--steps', '3']),
    metrics: [
      { key: 'tokPerS', name: 'training, Transformer++, compiled step', unit: 'tok/s', better: 'higher' },
      { key: 'eager.tokPerS', peerKey: 'tokPerS', name: 'training, Transformer++, eager step', unit: 'tok/s', better: 'higher' },
    ],
    same: ['params'],
  },
];

function pick(value: unknown, path: string): unknown {
  let v = value;
  for (const part of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}
const numberAt = (value: unknown, path: string): number | null => {
  const v = pick(value, path);
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
};

// ---------------------------------------------------------------- processes

interface RunOutcome {
  readonly json: Record<string, unknown> | null;
  readonly error: string | null;
}

/** Runs a command and parses the last line of its stdout as JSON. */
function runJson(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): RunOutcome {
  const r = spawnSync(command, args, { cwd: here, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 2 ** 20 });
  if (r.error) return { json: null, error: `${command} did not run: ${r.error.message}` };
  if (r.status !== 0) return { json: null, error: `${command} ${args[args.length - 1] ?? ''} exited with ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ').slice(0, 400)}` };
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { json: JSON.parse(last) as Record<string, unknown>, error: null };
  } catch {
    return { json: null, error: `${command}: the last line of its output is not JSON: ${last.slice(0, 200)}` };
  }
}

/** The peers' environment: OpenBLAS with OpenMP, passive waiting, the thread count. */
export function peerEnvironment(threads: number, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const openblas = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
  const env: Record<string, string> = { OMP_WAIT_POLICY: 'PASSIVE', THREADS: String(threads), OMP_NUM_THREADS: String(threads), PYTHONDONTWRITEBYTECODE: '1' };
  if (existsSync(openblas)) env['LD_LIBRARY_PATH'] = base['LD_LIBRARY_PATH'] ? `${openblas}:${base['LD_LIBRARY_PATH']}` : openblas;
  return env;
}

/** The first Python that imports torch: TITANS_PEER_PYTHON alone when set, else python3, then /usr/bin/python3. */
export function findPeer(env: NodeJS.ProcessEnv = process.env): PeerStatus {
  const explicit = env['TITANS_PEER_PYTHON'];
  const candidates = explicit ? [explicit] : ['python3', '/usr/bin/python3'];
  const reasons: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], {
      encoding: 'utf8', timeout: 120_000, env: { ...env, ...peerEnvironment(1, env) },
    });
    if (r.error) {
      reasons.push(`${python}: ${r.error.message}`);
    } else if (r.status !== 0) {
      reasons.push(`${python}: ${(r.stderr.trim().split('\n').pop() ?? '').slice(0, 120)}`);
    } else {
      return { status: 'ran', python, torch: r.stdout.trim() };
    }
  }
  return { status: 'not installed', reason: `no Python with torch (${reasons.join('; ')}); on Debian: apt-get install -y python3-torch libopenblas0-openmp` };
}

// ---------------------------------------------------------------- package benches

const PACKAGE_RESULTS = ['packages/tensor/bench-results', 'packages/memory/bench-results', 'packages/models/bench-results'];

/** Numeric leaves of a JSON value with their dotted paths (arrays by index, or by an item's name/label). */
export function numericLeaves(value: unknown, prefix = ''): { path: string; value: number }[] {
  if (typeof value === 'number') return Number.isFinite(value) ? [{ path: prefix, value }] : [];
  if (Array.isArray(value)) {
    return value.flatMap((item, i) => {
      const label = typeof item === 'object' && item !== null
        ? ['name', 'label', 'shape', 'implementation', 'model'].map((k) => (item as Record<string, unknown>)[k]).find((v) => typeof v === 'string')
        : undefined;
      return numericLeaves(item, `${prefix}[${typeof label === 'string' ? label : i}]`);
    });
  }
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).flatMap(([k, v]) => numericLeaves(v, prefix ? `${prefix}.${k}` : k));
  }
  return [];
}

function packageBenches(): SideBySide['packageBenches'] {
  const out: SideBySide['packageBenches'] = [];
  for (const dir of PACKAGE_RESULTS) {
    const abs = join(root, dir);
    if (!existsSync(abs)) continue;
    for (const name of readdirSync(abs).filter((f) => f.endsWith('.json')).sort()) {
      const file = join(abs, name);
      try {
        const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
        const numbers = numericLeaves(json).filter((n) => /compiled|fused/i.test(n.path) || peerMetricOf(n.path) !== null);
        out.push({ file: relative(root, file), date: statSync(file).mtime.toISOString(), numbers });
      } catch {
        // not JSON: ignore
      }
    }
  }
  return out;
}

const lastKey = (path: string): string => path.split('.').pop()!.replace(/\[.*\]$/, '');
const PEER_KEYS = new Map(WORKLOADS.flatMap((w) => w.metrics.map((m) => [m.key, { workload: w, metric: m }] as const)));
const SHORT_KEYS = new Set([...PEER_KEYS.keys()].map(lastKey));

/** The full metric key for a short one (`scanTokPerS` -> `linear.scanTokPerS` when the path names linear), or null. */
function fullKey(short: string, path: string): string | null {
  const candidates = [...PEER_KEYS.keys()].filter((k) => lastKey(k) === short);
  if (candidates.length === 1) return candidates[0]!;
  const parts = path.toLowerCase().split(/[.[\]]+/);
  const named = candidates.filter((k) => parts.includes(k.split('.')[0]!.toLowerCase()));
  return named.length === 1 ? named[0]! : null;
}
/** Other names the packages' benches use for the same figures. */
const ALIASES: Record<string, string> = { mul_add_silu_chain_us_per_op: 'chain3_32x32_us_per_op' };

/**
 * The peer metric a package-bench number measures, or null. Either its own key is a metric
 * key (`compiled.add_32x32_us`), or it is a timing (a key ending in `us`, `UsPerOp`,
 * `TokPerS`, `tokensPerSecond`, or named fused, unfused, compiled, eager) inside something
 * that names the metric: a list item named after it (`compile.rows[add_32x32_us].compiledUsPerOp`)
 * or a memory path segment `linear/module`, `mlp2/scan`, ... Ratios and CPU-time figures
 * are left out.
 */
export function peerMetricOf(path: string): string | null {
  const own = lastKey(path);
  const segments = path.split(/[.[\]]+/).filter((x) => x.length > 0);
  if (/over|ratio/i.test(own) || segments.some((x) => /cpu/i.test(x))) return null;
  const aliased = ALIASES[own] ?? own;
  if (SHORT_KEYS.has(aliased)) return fullKey(aliased, path);
  if (!/(us|UsPerOp|TokPerS|tokensPerSecond)$|^(fused|unfused|compiled|eager)$/.test(own)) return null;
  const label = [...path.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!).at(-1);
  const key = label === undefined ? undefined : ALIASES[label] ?? label;
  if (key !== undefined && SHORT_KEYS.has(key)) return fullKey(key, path);
  const memory = /(?:^|[.[])(linear|mlp2?)\/(module|scan)(?:$|[./\]])/i.exec(path);
  if (memory) return `${memory[1]!.toLowerCase().startsWith('mlp') ? 'mlp' : 'linear'}.${memory[2]!.toLowerCase()}TokPerS`;
  return null;
}

/** Rows for package-bench numbers whose key is a peer metric (e.g. compiled.add_32x32_us). */
function packageRows(benches: SideBySide['packageBenches'], peerJson: Map<Group, Record<string, unknown> | null>, quick: boolean): Row[] {
  const rows: Row[] = [];
  for (const bench of benches) {
    for (const n of bench.numbers) {
      const key = peerMetricOf(n.path);
      const match = key === null ? undefined : PEER_KEYS.get(key);
      if (!match) continue;
      // Only the figures at the peer's own shapes compare: the quick run's tiny shapes do not.
      const peer = quick ? null : numberAt(peerJson.get(match.workload.group) ?? null, match.metric.peerKey ?? match.metric.key);
      rows.push({
        group: 'package', name: `${match.metric.name}, ${lastKey(n.path)}`, path: n.path, unit: match.metric.unit, better: match.metric.better,
        ours: n.value, pytorch: peer, speedRatio: speedRatio(n.value, peer, match.metric.better), threads: threadsOf(match.workload.group),
        source: `${bench.file.split('/').slice(-3).join('/')} ${bench.date.slice(0, 16)}`, ...(peer === null ? { note: quick ? 'quick run: not compared' : 'no peer figure' } : {}),
      });
    }
  }
  return rows;
}

// ---------------------------------------------------------------- run

function threadsOf(group: Group): number {
  const fromEnv = (name: string, fallback: number): number => {
    const v = Number(process.env[name] ?? fallback);
    if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${process.env[name]}`);
    return v;
  };
  return group === 'train' ? fromEnv('TITANS_BENCH_THREADS_TRAIN', 2) : fromEnv('TITANS_BENCH_THREADS_OPS', 1);
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<SideBySide> {
  const { values } = parseArgs({ args: argv, options: { quick: { type: 'boolean' }, only: { type: 'string' }, out: { type: 'string' } }, strict: true });
  const quick = values.quick ?? process.env['TITANS_BENCH_QUICK'] === '1';
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : [...GROUPS];
  for (const g of only) if (!GROUPS.includes(g as Group)) throw new Error(`--only: unknown group ${JSON.stringify(g)} (have ${GROUPS.join(', ')})`);
  const started = performance.now();
  const loadBefore = loadavg();
  const peer = findPeer();
  console.log(`side-by-side: ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, node ${process.version}${quick ? ' (quick)' : ''}; ` +
    `PyTorch peer: ${peer.status === 'ran' ? `${peer.python} (torch ${peer.torch})` : `not installed (${peer.reason})`}`);
  const rows: Row[] = [];
  const raw: Record<string, unknown> = {};
  const failures: string[] = [];
  const peerJson = new Map<Group, Record<string, unknown> | null>();
  const timeoutMs = (quick ? 180 : 1200) * 1000;
  for (const w of WORKLOADS.filter((x) => only.includes(x.group))) {
    const threads = threadsOf(w.group);
    const args = w.args(quick);
    console.log(`  ${w.group}: ours ...`);
    const ours = runJson(process.execPath, ['--conditions=source', '--import', 'tsx', w.ours, ...args], { ...process.env, THREADS: String(threads) }, timeoutMs);
    raw[`ours/${w.group}`] = ours.json ?? ours.error;
    if (ours.error) failures.push(`ours ${w.group}: ${ours.error}`);
    let theirs: RunOutcome = { json: null, error: null };
    if (peer.status === 'ran') {
      console.log(`  ${w.group}: PyTorch ...`);
      theirs = runJson(peer.python!, [w.peer, ...args], { ...process.env, ...peerEnvironment(threads) }, timeoutMs);
      raw[`pytorch/${w.group}`] = theirs.json ?? theirs.error;
      if (theirs.error) failures.push(`PyTorch ${w.group}: ${theirs.error}`);
    }
    peerJson.set(w.group, theirs.json);
    for (const key of w.same ?? []) {
      const a = pick(ours.json, key);
      const b = pick(theirs.json, key);
      if (ours.json && theirs.json && a !== b) failures.push(`${w.group}: ${key} differs (ours ${String(a)}, PyTorch ${String(b)}): not the same model`);
    }
    for (const m of w.metrics) {
      const o = numberAt(ours.json, m.key);
      const p = numberAt(theirs.json, m.peerKey ?? m.key);
      const note = peer.status !== 'ran' ? 'peer not installed' : p === null ? 'peer failed' : o === null ? 'ours failed' : undefined;
      rows.push({ group: w.group, name: m.name, unit: m.unit, better: m.better, ours: o, pytorch: p, speedRatio: speedRatio(o, p, m.better), threads, ...(note ? { note } : {}) });
    }
  }
  const benches = packageBenches();
  rows.push(...packageRows(benches, peerJson, quick));
  const result: SideBySide = {
    benchmark: 'side-by-side', date: new Date().toISOString(), quick,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, loadAverageBefore: loadBefore.map((l) => Math.round(l * 100) / 100), loadAverageAfter: loadavg().map((l) => Math.round(l * 100) / 100) },
    peer, peerEnv: peerEnvironment(1), rows, raw, packageBenches: benches, failures,
    seconds: Math.round((performance.now() - started) / 100) / 10,
  };
  const file = values.out ?? join(here, 'bench-results', quick ? 'side-by-side-quick.json' : 'side-by-side.json');
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(result, null, 2)}\n`);
  renameSync(tmp, file);
  console.log(`\n${formatTable(rows)}\n`);
  for (const f of failures) console.log(`failure: ${f}`);
  console.log(`wrote ${file} (${result.seconds} s)`);
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await main();
  process.exit(result.failures.length > 0 ? 1 : 0);
}
