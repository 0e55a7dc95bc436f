// The side-by-side runner in quick mode (tiny shapes): the JSON it writes has every row with
// both sides or a stated reason, and a missing peer is recorded, not an error. No timing is
// asserted (performance lives in the benchmark's output, not in tests).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { findPeer, formatTable, numericLeaves, peerMetricOf, speedRatio, type Row, type SideBySide } from '../side-by-side.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'side-by-side-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; output: string; json: SideBySide } {
  const out = join(scratch, `${args.join('_').replace(/[^a-z0-9_]/gi, '')}.json`);
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'side-by-side.ts', '--quick', '--out', out, ...args], {
    cwd: dir, encoding: 'utf8', timeout: 280_000, env: { ...process.env, ...env },
  });
  return { status: r.status, output: `${r.stdout}${r.stderr}`, json: JSON.parse(readFileSync(out, 'utf8')) as SideBySide };
}

function checkRow(row: Row): void {
  expect(['ops', 'memory', 'train', 'package']).toContain(row.group);
  expect(typeof row.name).toBe('string');
  expect(['us', 'us/op', 'tok/s']).toContain(row.unit);
  expect(row.threads).toBeGreaterThanOrEqual(1);
  for (const side of [row.ours, row.pytorch, row.speedRatio]) if (side !== null) expect(side).toBeGreaterThan(0);
  if (row.speedRatio === null) expect(typeof row.note).toBe('string');
}

describe('side-by-side runner', () => {
  it('writes every group with both sides (or "peer not installed") in quick mode', () => {
    const { status, output, json } = run([]);
    expect(json.benchmark).toBe('side-by-side');
    expect(json.quick).toBe(true);
    expect(json.failures, output).toEqual([]);
    expect(status, output).toBe(0);
    const ours = json.rows.filter((r) => r.group !== 'package');
    expect(ours.map((r) => r.group)).toEqual(['ops', 'ops', 'ops', 'ops', 'memory', 'memory', 'memory', 'memory', 'train', 'train']);
    ours.forEach(checkRow);
    for (const r of ours) expect(r.ours).not.toBeNull();
    expect(ours.find((r) => r.group === 'train')!.threads).toBe(2);
    if (json.peer.status === 'ran') {
      for (const r of ours) expect(r.speedRatio).not.toBeNull();
      expect(json.peerEnv['OMP_WAIT_POLICY']).toBe('PASSIVE');
      // The same model on both sides: equal parameter counts.
      expect((json.raw['ours/train'] as { params: number }).params).toBe((json.raw['pytorch/train'] as { params: number }).params);
    } else {
      for (const r of ours) expect(r.note).toBe('peer not installed');
    }
    expect(output).toContain('ours / PyTorch');
  });

  it('records "peer not installed" when the named Python cannot import torch', () => {
    const { status, json } = run(['--only', 'ops'], { TITANS_PEER_PYTHON: join(scratch, 'no-such-python') });
    expect(status).toBe(0);
    expect(json.peer.status).toBe('not installed');
    expect(json.peer.reason).toMatch(/no-such-python/);
    const rows = json.rows.filter((r) => r.group === 'ops');
    expect(rows).toHaveLength(4);
    for (const r of rows) {
      checkRow(r);
      expect(r.pytorch).toBeNull();
      expect(r.note).toBe('peer not installed');
    }
  });

  it('rejects an unknown group', () => {
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'side-by-side.ts', '--quick', '--only', 'nope'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unknown group "nope"/);
  });
});

describe('kernel bench', () => {
  it('writes every kernel with both timings in quick mode', () => {
    const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'kernels.ts', '--quick'], { cwd: dir, encoding: 'utf8', timeout: 280_000 });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'bench-results', 'kernels-quick.json'), 'utf8')) as {
      benchmark: string; entries: { kernel: string; oldMs: number; newMs: number; speedup: number }[];
    };
    expect(json.benchmark).toBe('cpu-kernels');
    expect(json.entries.map((e) => e.kernel)).toEqual(['attention (causal)', 'rmsNorm', 'layerNorm', 'logSoftmax', 'silu (SwiGLU gate)', 'rope',
      'logSoftmax (cross-entropy rows)', 'sum over rows (axis 0)', 'causalConv (silu, kernel 4)']);
    for (const e of json.entries) for (const x of [e.oldMs, e.newMs, e.speedup]) expect(x).toBeGreaterThan(0);
  });
});

describe('helpers', () => {
  it('speedRatio is ours / PyTorch as speed', () => {
    expect(speedRatio(10, 2, 'lower')).toBe(0.2);
    expect(speedRatio(300, 100, 'higher')).toBe(3);
    expect(speedRatio(null, 1, 'higher')).toBeNull();
    expect(speedRatio(0, 1, 'lower')).toBeNull();
  });

  it('numericLeaves names array items by their label', () => {
    expect(numericLeaves({ a: { compiled: { add_32x32_us: 2 } }, list: [{ name: 'x', v: 1 }, 3] })).toEqual([
      { path: 'a.compiled.add_32x32_us', value: 2 }, { path: 'list[x].v', value: 1 }, { path: 'list[1]', value: 3 },
    ]);
  });

  it('peerMetricOf pairs package-bench figures with peer metrics by key or by list-item name', () => {
    expect(peerMetricOf('compiled.add_32x32_us')).toBe('add_32x32_us');
    expect(peerMetricOf('compile.rows[add_32x32_us].compiledUsPerOp')).toBe('add_32x32_us');
    expect(peerMetricOf('compile.rows[mul_add_silu_chain_us_per_op].eagerUsPerOp')).toBe('chain3_32x32_us_per_op');
    expect(peerMetricOf('compile.rows[add_32x32_us].compiledCpuUsPerOp')).toBeNull();
    expect(peerMetricOf('fused.linear.scanTokPerS')).toBe('linear.scanTokPerS');
    expect(peerMetricOf('fused[mlp].moduleTokPerS')).toBe('mlp.moduleTokPerS');
    expect(peerMetricOf('fused.scanTokPerS')).toBeNull(); // which memory: not said
    expect(peerMetricOf('matmul[256^3].gflops')).toBeNull();
    expect(peerMetricOf('compile.rows[add_32x32_us].plan.kernels')).toBeNull();
    expect(peerMetricOf('compile.rows[add_32x32_us].opsPerCall')).toBeNull();
    expect(peerMetricOf('versusPyTorch.rows.linear/module/wall.fused')).toBe('linear.moduleTokPerS');
    expect(peerMetricOf('versusPyTorch.rows.mlp2/scan/wall.unfused')).toBe('mlp.scanTokPerS');
    expect(peerMetricOf('versusPyTorch.rows.mlp2/scan/wall.fusedOverPytorch')).toBeNull();
    expect(peerMetricOf('versusPyTorch.rows.mlp2/scan/cpu.fused')).toBeNull();
  });

  it('formatTable prints a missing side as a dash with the reason', () => {
    const table = formatTable([{ group: 'ops', name: 'add', unit: 'us', better: 'lower', ours: 2, pytorch: null, speedRatio: null, threads: 1, note: 'peer not installed' }]);
    expect(table).toContain('peer not installed');
    expect(table.split('\n')).toHaveLength(3);
  });

  it('findPeer reports a missing interpreter', () => {
    expect(findPeer({ ...process.env, TITANS_PEER_PYTHON: '/nonexistent/python' }).status).toBe('not installed');
  });
});
