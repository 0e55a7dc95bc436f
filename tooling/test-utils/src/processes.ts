// Helpers for tests that start and kill processes.

/** Whether a process with this pid exists (signal 0 probes without delivering anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Polls `probe` every `intervalMs` until it returns a value other than undefined and resolves
 * with it; after `timeoutMs` rejects with "timed out waiting for <what>", followed by
 * `context()` when given (what the process under test printed, say).
 */
export async function waitFor<T>(
  what: string, probe: () => T | undefined, options: { timeoutMs?: number; intervalMs?: number; context?: () => string } = {},
): Promise<T> {
  const { timeoutMs = 30_000, intervalMs = 10, context } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${context ? `; the run printed:\n${context()}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
