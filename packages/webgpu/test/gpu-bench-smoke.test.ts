// The GPU benchmark's CI test (issue 23): tooling/scripts/gpu-bench.sh --smoke runs end to end
// here on SwiftShader (tiny shapes and budgets) and leaves a report whose structure is checked:
// every planned case has, on each side, a number or an explicit reason why not. No timing is
// asserted (performance lives in the benchmark's own output).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const SECTIONS = ['matmul', 'attention', 'memory', 'train'] as const;

type Measurement = { value: number; unit: string; detail?: Record<string, unknown> } | { skipped: string };
interface Row { id: string; unit: string; ours: Measurement; peer: Measurement; ratio: number | null }
interface Report {
  schema: number;
  mode: string;
  date: string;
  commit: string | null;
  elapsedS: number | null;
  device: Record<string, unknown>;
  ours: { available: boolean; reason?: string };
  peer: { available: boolean; reason?: string; info: Record<string, unknown> };
  sections: Record<string, { budgetS: number; oursElapsedS: number | null; peerElapsedS: number | null; rows: Row[] }>;
}
interface Plan { mode: string; sections: Record<string, { budgetS: number; cases: { id: string }[] }> }

function checkMeasurement(m: Measurement, where: string): void {
  if ('value' in m) {
    expect(Number.isFinite(m.value) && m.value > 0, `${where}: value ${m.value}`).toBe(true);
    expect(typeof m.unit, where).toBe('string');
  } else {
    expect(typeof m.skipped, where).toBe('string');
    expect(m.skipped.length, `${where}: empty skip reason`).toBeGreaterThan(0);
  }
}

describe('tooling/scripts/gpu-bench.sh --smoke', () => {
  const out = mkdtempSync(join(tmpdir(), 'titans-gpu-bench-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes the plan, both sides and a merged report with a figure or a reason for every case', () => {
    const run = spawnSync('bash', [join(root, 'tooling/scripts/gpu-bench.sh'), out, '--smoke'], {
      cwd: root, encoding: 'utf8', timeout: 840_000, env: process.env,
    });
    const log = `${run.stdout}\n${run.stderr}`;
    expect(run.status, log.slice(-4000)).toBe(0);
    for (const file of ['plan.json', 'ours.json', 'peer.json', 'gpu-bench.json', 'gpu-bench.md', 'bench.log']) {
      expect(existsSync(join(out, file)), file).toBe(true);
    }
    const plan = JSON.parse(readFileSync(join(out, 'plan.json'), 'utf8')) as Plan;
    const report = JSON.parse(readFileSync(join(out, 'gpu-bench.json'), 'utf8')) as Report;
    expect(report.schema).toBe(1);
    expect(report.mode).toBe('smoke');
    expect(Number.isNaN(Date.parse(report.date))).toBe(false);
    expect(report.elapsedS).toBeGreaterThan(0);

    // Our side ran on an adapter (SwiftShader here) and recorded what it is.
    expect(report.ours.available, report.ours.reason).toBe(true);
    expect(typeof report.device['vendor']).toBe('string');
    expect(typeof report.device['architecture']).toBe('string');
    expect(Array.isArray(report.device['features'])).toBe(true);
    const limits = report.device['limits'] as Record<string, number>;
    expect(limits['maxBufferSize']).toBeGreaterThan(0);
    expect(limits['maxComputeWorkgroupSizeX']).toBeGreaterThan(0);

    // The peer either ran or says why not ("peer not available: ..." without CUDA).
    if (!report.peer.available) expect(report.peer.reason).toMatch(/^peer not available: /);

    for (const name of SECTIONS) {
      const section = report.sections[name]!;
      expect(section, name).toBeDefined();
      expect(section.budgetS).toBe(plan.sections[name]!.budgetS);
      expect(section.rows.map((r) => r.id)).toEqual(plan.sections[name]!.cases.map((c) => c.id));
      expect(section.oursElapsedS, `${name} ran on our side`).not.toBeNull();
      for (const row of section.rows) {
        checkMeasurement(row.ours, `${name} ${row.id} ours`);
        checkMeasurement(row.peer, `${name} ${row.id} peer`);
        if ('value' in row.ours && 'value' in row.peer) expect(row.ratio).toBeCloseTo(row.ours.value / row.peer.value, 2);
        else expect(row.ratio).toBeNull();
        if (!report.peer.available) expect('skipped' in row.peer && row.peer.skipped).toMatch(/^peer not available: /);
      }
      // A section's first case always runs (nothing to predict its cost from), so the
      // kernels' sections have at least one figure; training may end in a reason (budget, error).
      if (name !== 'train') expect('value' in section.rows[0]!.ours, `${name} ${JSON.stringify(section.rows[0])}`).toBe(true);
    }

    const table = readFileSync(join(out, 'gpu-bench.md'), 'utf8');
    expect(table).toContain('| section | case | unit | ours (WebGPU) | PyTorch peer | ours / peer |');
    for (const name of SECTIONS) for (const c of plan.sections[name]!.cases) expect(table).toContain(`| ${name} | ${c.id} |`);
  }, 900_000);
});
