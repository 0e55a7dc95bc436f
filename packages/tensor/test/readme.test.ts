// Runs the README's TypeScript examples as written, so the documentation stays true.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test, vi } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
// The runnable examples are the TypeScript blocks that print something; the others are
// fragments (configuration calls, how another package registers a backend).
const examples = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((code) => code.includes('console.log('));

/** Runs one example (imports resolve as in a user's project) and returns what it printed. */
async function runExample(index: number): Promise<string[]> {
  const dir = join(packageDir, '.tmp', 'readme');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `example-${index}-${process.pid}.ts`);
  writeFileSync(file, examples[index]!);
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => { lines.push(args.join(' ')); });
  try {
    await import(/* @vite-ignore */ `${file}?t=${Date.now()}`);
  } finally {
    log.mockRestore();
  }
  return lines;
}

describe('README examples', () => {
  afterEach(() => vi.restoreAllMocks());

  test('the README has its three runnable examples', () => {
    expect(examples).toHaveLength(3);
  });

  test('the install snippet prints f\'\' beside the analytic value', async () => {
    const [line] = await runExample(0);
    expect(line).toMatch(/^f''\(0\.5\) = (\S+), analytic \1$/);
  });

  test('the MLP fit prints a falling loss', async () => {
    const lines = await runExample(1);
    const losses = lines.map((l) => Number(/loss ([\d.]+)/.exec(l)?.[1]));
    expect(losses).toHaveLength(7);
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]!).toBeLessThan(losses[0]! / 100);
    // The output shown in the README is what the code prints (to round-off: matmul
    // kernels may sum in a different order on another machine).
    const shown = [...readme.matchAll(/^step (\d+): loss ([\d.]+)$/gm)].map((m) => Number(m[2]));
    expect(shown).toHaveLength(losses.length);
    losses.forEach((loss, i) => expect(Math.abs(loss - shown[i]!)).toBeLessThanOrEqual(0.1 * shown[i]! + 2e-5));
  });

  test("grad(grad(f)) matches the analytic f''", async () => {
    const [line] = await runExample(2);
    const match = /f''\(0\.5\) = (\S+), analytic (\S+)/.exec(line!);
    expect(match).not.toBeNull();
    expect(Number(match![1])).toBeCloseTo(Number(match![2]), 12);
  });
});
