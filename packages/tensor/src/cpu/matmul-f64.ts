// Float64 batched matmul for the CPU backend: a register-blocked JavaScript kernel that reads
// the operands through their strides (no packing, any layout, zero batch stride broadcasts) and
// gives the same bits as the backend's general loop (matmulBlock in backend.ts). Each output
// element is still its own sum, started from 0 and added to in order p = 0 .. k-1, one rounded
// product and one rounded addition per step (JavaScript never fuses them): only the loop order
// over output elements changes, which no element sees. The kernel computes tiles of 4 rows x 2
// columns in eight local accumulators (the operands' elements are loaded once per tile row or
// column instead of once per product) and writes each element once, so the output need not be
// zeroed beforehand.

/** Which float64 kernel the backend runs: WebAssembly SIMD, this file's JavaScript, or its general loop. */
export type MatmulF64Mode = 'wasm' | 'js' | 'off';

let mode: MatmulF64Mode = 'wasm';

/**
 * @internal Picks the backend's float64 matmul kernel ('wasm' falls back to 'js' where
 * WebAssembly is off or unavailable; 'off' is the general loop, the reference); returns the
 * previous setting. For tests and benchmarks that compare them.
 */
export function setMatmulF64Mode(next: MatmulF64Mode): MatmulF64Mode {
  const previous = mode;
  mode = next;
  return previous;
}

/** @internal The backend's float64 matmul kernel (see setMatmulF64Mode). */
export function matmulF64Mode(): MatmulF64Mode {
  return mode;
}

/**
 * o[bi, i, j] = sum_p A[aOff + bi*sab + i*sam + p*sak] * B[bOff + bi*sbb + p*sbk + j*sbn]
 * for bi < batch, i < m, j < n, p < k; o is contiguous [batch, m, n] and every element of it
 * is written (0 when k = 0).
 */
export function matmulF64(
  o: Float64Array,
  A: Float64Array, aOff: number, sab: number, sam: number, sak: number,
  B: Float64Array, bOff: number, sbb: number, sbk: number, sbn: number,
  batch: number, m: number, k: number, n: number,
): void {
  for (let bi = 0; bi < batch; bi++) {
    const oBase = bi * m * n;
    const aBase = aOff + bi * sab;
    const bBase = bOff + bi * sbb;
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const a0 = aBase + i * sam; const a1 = a0 + sam; const a2 = a1 + sam; const a3 = a2 + sam;
      const o0 = oBase + i * n; const o1 = o0 + n; const o2 = o1 + n; const o3 = o2 + n;
      let j = 0;
      for (; j + 2 <= n; j += 2) {
        let c00 = 0; let c01 = 0; let c10 = 0; let c11 = 0; let c20 = 0; let c21 = 0; let c30 = 0; let c31 = 0;
        let pb = bBase + j * sbn;
        let pa = 0;
        for (let p = 0; p < k; p++) {
          const y0 = B[pb]!; const y1 = B[pb + sbn]!;
          const x0 = A[a0 + pa]!; const x1 = A[a1 + pa]!; const x2 = A[a2 + pa]!; const x3 = A[a3 + pa]!;
          c00 += x0 * y0; c01 += x0 * y1;
          c10 += x1 * y0; c11 += x1 * y1;
          c20 += x2 * y0; c21 += x2 * y1;
          c30 += x3 * y0; c31 += x3 * y1;
          pb += sbk;
          pa += sak;
        }
        o[o0 + j] = c00; o[o0 + j + 1] = c01;
        o[o1 + j] = c10; o[o1 + j + 1] = c11;
        o[o2 + j] = c20; o[o2 + j + 1] = c21;
        o[o3 + j] = c30; o[o3 + j + 1] = c31;
      }
      if (j < n) {
        let c0 = 0; let c1 = 0; let c2 = 0; let c3 = 0;
        let pb = bBase + j * sbn;
        let pa = 0;
        for (let p = 0; p < k; p++) {
          const y = B[pb]!;
          c0 += A[a0 + pa]! * y; c1 += A[a1 + pa]! * y; c2 += A[a2 + pa]! * y; c3 += A[a3 + pa]! * y;
          pb += sbk;
          pa += sak;
        }
        o[o0 + j] = c0; o[o1 + j] = c1; o[o2 + j] = c2; o[o3 + j] = c3;
      }
    }
    for (; i < m; i++) {
      const a0 = aBase + i * sam;
      const o0 = oBase + i * n;
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        let c0 = 0; let c1 = 0; let c2 = 0; let c3 = 0;
        let pb = bBase + j * sbn;
        let pa = a0;
        for (let p = 0; p < k; p++) {
          const x = A[pa]!;
          c0 += x * B[pb]!; c1 += x * B[pb + sbn]!; c2 += x * B[pb + 2 * sbn]!; c3 += x * B[pb + 3 * sbn]!;
          pb += sbk;
          pa += sak;
        }
        o[o0 + j] = c0; o[o0 + j + 1] = c1; o[o0 + j + 2] = c2; o[o0 + j + 3] = c3;
      }
      for (; j < n; j++) {
        let c = 0;
        let pb = bBase + j * sbn;
        let pa = a0;
        for (let p = 0; p < k; p++) {
          c += A[pa]! * B[pb]!;
          pb += sbk;
          pa += sak;
        }
        o[o0 + j] = c;
      }
    }
  }
}
