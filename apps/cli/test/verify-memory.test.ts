// End to end: runs `titans verify-memory` the way a user does (the bin launcher, a fresh
// process, paths relative to where they stand) on the real golden files; the reports and
// the bad input run in this process through main() (no launcher start-up per case).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { titansInProcess } from './in-process.js';

const launcher = fileURLToPath(new URL('../bin/titans.js', import.meta.url));
const cliDir = fileURLToPath(new URL('..', import.meta.url));
const goldenDir = process.env.TITANS_GOLDEN_DIR ?? fileURLToPath(new URL('../../../packages/memory/golden/neural-memory/', import.meta.url));
const goldenFiles = readdirSync(goldenDir).filter((f) => f.endsWith('.json')).sort().map((f) => join(goldenDir, f));
const scratch = mkdtempSync(join(tmpdir(), 'titans-cli-'));

function titans(args: string[], options: { cwd?: string; env?: Record<string, string> } = {}): { code: number | null; stdout: string; stderr: string } {
  const env = { ...process.env, ...options.env };
  if (!options.env?.INIT_CWD) delete env.INIT_CWD;
  const result = spawnSync(process.execPath, [launcher, ...args], { cwd: options.cwd ?? scratch, env, encoding: 'utf8', timeout: 120_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `titans ...args` in this process, from the scratch directory; an internal error fails the test. */
async function inProcess(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const outcome = await titansInProcess(args, scratch);
  expect(outcome.thrown, `internal error: ${outcome.stderr}`).toBeUndefined();
  return outcome;
}

describe('titans verify-memory', () => {
  it('passes every golden file through the parallel path, printing each relative error', () => {
    expect(goldenFiles.length).toBeGreaterThanOrEqual(16);
    // Paths relative to the directory the user runs from.
    const { code, stdout, stderr } = titans(['verify-memory', ...goldenFiles.map((f) => relative(scratch, f))]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toContain(`${goldenFiles.length} of ${goldenFiles.length} cases within tolerance`);
    expect(stdout).toMatch(/PASS {2}mlp2_residual_ln-T16-b4-s1\.json\n\s+y_pre\s+\d\.\d\de-\d+/);
    expect(stdout).toMatch(/grad\.P0\.W1\s+\d\.\d\de-\d+/);
  }, 120_000);

  it('with no files runs the golden vectors that ship with @titans/memory', async () => {
    const omegaDir = join(goldenDir, '..', 'omega-memory');
    const omega = readdirSync(omegaDir).filter((f) => f.endsWith('.json'));
    const { code, stdout, stderr } = await inProcess(['verify-memory', '--json']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { passed: boolean; cases: { file: string; passed: boolean }[] };
    expect(report.passed).toBe(true);
    expect(report.cases.map((c) => c.file)).toEqual([...goldenFiles, ...omega.sort().map((f) => join(omegaDir, f))]);
  }, 240_000);

  it('--json reports every error as data', async () => {
    const { code, stdout } = await inProcess(['verify-memory', goldenFiles[0]!, '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { passed: boolean; backend: string; cases: { file: string; errors: Record<string, number>; passed: boolean }[] };
    expect(report.passed).toBe(true);
    expect(report.backend).toBe('cpu');
    expect(Object.keys(report.cases[0]!.errors)).toEqual(expect.arrayContaining(['y_pre', 'y_post', 'loss', 'grad.k', 'grad.theta']));
    for (const e of Object.values(report.cases[0]!.errors)) expect(e).toBeLessThan(1e-4);
  }, 60_000);

  it('resolves paths against INIT_CWD, where `pnpm titans` was started', () => {
    const { code, stdout } = titans(['verify-memory', relative(scratch, goldenFiles[0]!)], { cwd: cliDir, env: { INIT_CWD: scratch } });
    expect(code).toBe(0);
    expect(stdout).toContain('1 of 1 cases within tolerance');
  }, 60_000);

  it('exits 1 and marks the case when a value is off', async () => {
    const golden = JSON.parse(readFileSync(goldenFiles[0]!, 'utf8')) as { outputs: { y_post: number[][] } };
    golden.outputs.y_post[3]![1]! += 0.5;
    const file = join(scratch, 'tampered.json');
    writeFileSync(file, JSON.stringify(golden));
    const { code, stdout } = await inProcess(['verify-memory', 'tampered.json']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/FAIL {2}tampered\.json/);
    expect(stdout).toMatch(/y_post\s+\S+ {2}> 0\.0001/);
    expect(stdout).toContain('0 of 1 cases within tolerance');
  }, 60_000);

  for (const [name, args, message] of [
    ['a malformed file', ['malformed.json'], /^titans verify-memory: malformed\.json: not valid JSON/],
    ['a file of the wrong shape', ['short.json'], /^titans verify-memory: short\.json: inputs\.theta must be 16 finite numbers$/],
    ['a missing file', ['missing.json'], /^titans verify-memory: cannot read missing\.json: no such file$/],
    ['an unknown flag', [goldenFiles[0]!, '--fast'], /^titans verify-memory: unknown option --fast$/],
    ['an unknown backend', [goldenFiles[0]!, '--backend', 'tpu'], /^titans verify-memory: unknown backend 'tpu'/],
  ] as const) {
    it(`exits 2 with a one-line error on ${name}`, async () => {
      writeFileSync(join(scratch, 'malformed.json'), '{"spec": "neural-memory/v1", "memory": ');
      const golden = JSON.parse(readFileSync(goldenFiles[0]!, 'utf8')) as { inputs: { theta: number[] } };
      golden.inputs.theta.pop();
      writeFileSync(join(scratch, 'short.json'), JSON.stringify(golden));
      const { code, stdout, stderr } = await inProcess(['verify-memory', ...args]);
      expect(code).toBe(2);
      expect(stdout).toBe('');
      expect(stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(stderr.trimEnd()).toMatch(message);
    }, 60_000);
  }

  it('--backend webgpu either runs or says clearly why it cannot', () => {
    const { code, stdout, stderr } = titans(['verify-memory', goldenFiles[0]!, '--backend', 'webgpu']);
    if (code === 0) expect(stdout).toContain('1 of 1 cases within tolerance');
    else {
      expect(code).toBe(2);
      expect(stderr).toMatch(/titans verify-memory: the webgpu backend is not available: /);
    }
  }, 60_000);

  it('unknown commands and --help', async () => {
    const unknown = await inProcess(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const help = await inProcess(['verify-memory', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: titans verify-memory \[<case\.json>\.\.\.\]/);
  }, 60_000);
});
