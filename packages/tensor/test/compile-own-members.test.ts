// compile() traces a backend primitive that the backend instance holds as its own member
// (shadowing, or standing in for, a method of its class): the trace calls the member the
// eager path calls, and the replay equals the eager result.
import { describe, expect, it } from 'vitest';
import { CpuBackend, compile, rmsNorm, tensor, tidy, type Tensor } from '../src/index.js';

class OwnNormRows extends CpuBackend {
  calls = 0;
  constructor() {
    super();
    const normRows = CpuBackend.prototype.normRows;
    Object.defineProperty(this, 'normRows', {
      value: (...a: Parameters<typeof normRows>) => {
        this.calls++;
        return normRows.apply(this, a);
      },
      configurable: true, writable: true, enumerable: false,
    });
  }
}

describe('compile() and primitives held as own members', () => {
  it('traces and replays the own member, equal to eager', () => {
    const backend = new OwnNormRows();
    const x = (seed: number): Tensor => tensor(Array.from({ length: 12 }, (_, i) => Math.sin(seed + i)), [3, 4], { backend });
    const norm = (t: Tensor): Tensor => rmsNorm(t.mul(2));
    const fn = compile(norm);
    const eager = tidy(() => Array.from(norm(x(1)).dataSync()));
    const eagerCalls = backend.calls;
    expect(eagerCalls).toBeGreaterThan(0);
    for (let n = 0; n < 3; n++) expect(tidy(() => Array.from(fn(x(1)).dataSync()))).toStrictEqual(eager);
    // The trace, the verification trace and the replay each called the own member (not the
    // class's method, which a trace that looked only at the prototype would have called).
    expect(backend.calls).toBe(eagerCalls + 3);
    expect(fn.stats().replays).toBe(1);
    expect(tidy(() => Array.from(fn(x(2)).dataSync()))).toStrictEqual(tidy(() => Array.from(norm(x(2)).dataSync())));
    fn.dispose();
  });
});
