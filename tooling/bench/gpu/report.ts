// Merges the two sides of the GPU benchmark (DIR/plan.json, DIR/ours.json, DIR/peer.json)
// into DIR/gpu-bench.json and a short table, DIR/gpu-bench.md. Every planned case gets a row
// with our figure, the peer's and the ratio ours / peer (above 1: ours is faster); a side
// that has no figure says why (skipped: budget, peer not available, no WebGPU device, ...).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECTIONS, type Measurement, type Plan, type SectionName, type SideResult } from './plan.js';

export interface Row {
  readonly id: string;
  readonly unit: string;
  readonly ours: Measurement;
  readonly peer: Measurement;
  /** ours / peer when both sides have a figure, else null. */
  readonly ratio: number | null;
}

export interface Report {
  readonly schema: 1;
  readonly mode: 'smoke' | 'full';
  readonly date: string;
  readonly commit: string | null;
  readonly elapsedS: number | null;
  readonly device: Record<string, unknown>;
  readonly ours: { readonly available: boolean; readonly reason?: string };
  readonly peer: { readonly available: boolean; readonly reason?: string; readonly info: Record<string, unknown> };
  readonly sections: Record<SectionName, { readonly budgetS: number; readonly oursElapsedS: number | null; readonly peerElapsedS: number | null; readonly rows: Row[] }>;
}

const UNITS: Record<SectionName, string> = { matmul: 'GFLOP/s', attention: 'tokens/s', memory: 'tokens/s', train: 'tokens/s' };

function readSide(path: string, side: 'ours' | 'peer', missing: string): SideResult {
  if (!existsSync(path)) return { side, available: false, reason: missing, info: {}, sections: {} };
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as SideResult;
  } catch (err) {
    return { side, available: false, reason: `${path} is not valid JSON: ${String(err)}`, info: {}, sections: {} };
  }
}

function measurementOf(side: SideResult, section: SectionName, id: string): Measurement {
  if (!side.available) return { skipped: side.reason ?? `${side.side} not available` };
  const s = side.sections[section];
  if (!s) return { skipped: `not run: left out by --only, or the ${side.side} process stopped before this section (stage limit or crash; see bench.log)` };
  return s.results[id] ?? { skipped: `not run: missing from ${side.side}'s results` };
}

export function buildReport(dir: string, meta: { commit: string | null; elapsedS: number | null }): Report {
  const plan = JSON.parse(readFileSync(join(dir, 'plan.json'), 'utf8')) as Plan;
  const ours = readSide(join(dir, 'ours.json'), 'ours', 'not run: ours.json is missing (the WebGPU side did not start; see its log)');
  const peer = readSide(join(dir, 'peer.json'), 'peer', 'peer not available: peer.json is missing (python3 missing or the peer did not start)');
  const sections = {} as Report['sections'];
  for (const name of SECTIONS) {
    const rows: Row[] = plan.sections[name].cases.map((c) => {
      const o = measurementOf(ours, name, c.id);
      const p = measurementOf(peer, name, c.id);
      const ratio = 'value' in o && 'value' in p && p.value > 0 ? Number((o.value / p.value).toPrecision(3)) : null;
      return { id: c.id, unit: UNITS[name], ours: o, peer: p, ratio };
    });
    sections[name] = {
      budgetS: plan.sections[name].budgetS,
      oursElapsedS: ours.sections[name]?.elapsedS ?? null,
      peerElapsedS: peer.sections[name]?.elapsedS ?? null,
      rows,
    };
  }
  return {
    schema: 1, mode: plan.mode, date: new Date().toISOString(), commit: meta.commit, elapsedS: meta.elapsedS,
    device: ours.info,
    ours: ours.available ? { available: true } : { available: false, reason: ours.reason ?? 'not available' },
    peer: { available: peer.available, ...(peer.reason === undefined ? {} : { reason: peer.reason }), info: peer.info },
    sections,
  };
}

const cell = (m: Measurement): string => ('value' in m ? String(m.value) : m.skipped.split(':')[0]!);

export function table(report: Report): string {
  const d = report.device;
  const lines = [
    `# GPU benchmark (${report.mode}), ${report.date}${report.commit ? `, commit ${report.commit}` : ''}`,
    '',
    `WebGPU adapter: ${report.ours.available ? `${String(d['adapterName'] ?? '')} (vendor ${String(d['vendor'] ?? '?')}, architecture ${String(d['architecture'] ?? '?')})` : report.ours.reason ?? ''}`,
    `PyTorch peer: ${report.peer.available ? `torch ${String(report.peer.info['torch'] ?? '?')} on ${String(report.peer.info['device'] ?? '?')}` : report.peer.reason ?? ''}`,
    '',
    '| section | case | unit | ours (WebGPU) | PyTorch peer | ours / peer |',
    '| --- | --- | --- | ---: | ---: | ---: |',
  ];
  for (const name of SECTIONS) {
    for (const row of report.sections[name].rows) {
      lines.push(`| ${name} | ${row.id} | ${row.unit} | ${cell(row.ours)} | ${cell(row.peer)} | ${row.ratio ?? '-'} |`);
    }
  }
  lines.push('', 'Skip reasons and per-case details (ms, kernel variant, parameters, reps) are in gpu-bench.json.');
  return `${lines.join('\n')}\n`;
}

export function merge(dir: string, meta: { commit: string | null; elapsedS: number | null }): Report {
  const report = buildReport(dir, meta);
  for (const [file, text] of [['gpu-bench.json', `${JSON.stringify(report, null, 2)}\n`], ['gpu-bench.md', table(report)]] as const) {
    const tmp = join(dir, `${file}.tmp-${process.pid}`);
    writeFileSync(tmp, text);
    renameSync(tmp, join(dir, file));
  }
  process.stdout.write(table(report));
  return report;
}
