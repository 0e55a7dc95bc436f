// What both benchmark processes (run.ts and its compare.ts child) time with.

/** Median wall time of `run` in ms after a warm-up call (compile, caches): at least one run, up to five within `budgetMs`. */
export async function medianTime(run: () => Promise<void>, budgetMs: number): Promise<number> {
  await run();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 1 || (performance.now() - start < budgetMs && times.length < 5)) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

/** n uniform values in [-1, 1). */
export function random(n: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
}
