// Memory of a compiled function against eager runs of it, on synthetic forward+backward graphs
// with many large intermediates (see memory-probe.ts for what each figure measures).
//
//   node --expose-gc --conditions=source --import tsx bench/compile-memory.ts [--graph mlp|linear] [--layers N] [--rows R] [--dim D]
//
// Graphs (float32, one thread), the loss the mean square of the last activation:
// - mlp: h = tanh(h @ W_i) for N layers, gradients of every W_i: backward needs every
//   activation, so the live set grows with N in eager and compiled runs alike;
// - linear: h = h @ W_i + b_i, gradient of the input only: backward needs the weights and no
//   activation, so the live set is a few activations whatever N is.
// Each mode runs in its own child process (`--mode eager|compiled` runs one), so resident-size
// peaks do not mix; the parent prints one JSON object with both.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Rng, add, compile, configureCpu, grad, keep, liveBytes, matmul, tidy, type Tensor } from '@titans/tensor';
import { MB, heldBytes, probePeaks } from './memory-probe.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const graph = arg('graph', 'mlp');
const layers = Number(arg('layers', '32'));
const rows = Number(arg('rows', '512'));
const dim = Number(arg('dim', '256'));
const mode = arg('mode', '');

function run(): Record<string, unknown> {
  configureCpu({ threads: 1 });
  const rng = new Rng(1);
  const ws = Array.from({ length: layers }, () => keep(rng.normal([dim, dim], 0, 1 / Math.sqrt(dim))));
  const bs = Array.from({ length: layers }, () => keep(rng.normal([dim], 0, 0.1)));
  const x0 = keep(rng.normal([rows, dim]));
  const step = graph === 'mlp'
    ? (x: Tensor): Tensor[] => grad((w: Tensor[]) => {
      let h = x;
      for (const wi of w) h = h.matmul(wi).tanh();
      return h.square().mean();
    })(ws)
    : (x: Tensor): Tensor[] => [grad((x: Tensor) => {
      let h = x;
      for (let i = 0; i < layers; i++) h = add(matmul(h, ws[i]!), bs[i]!);
      return h.square().mean();
    })(x)];
  const intermediate = rows * dim * 4;
  const base = heldBytes();
  const probe = probePeaks();
  const calls: { live: number; buffers: number; held: number }[] = [];
  const f = mode === 'compiled' ? compile(step) : step;
  for (let i = 0; i < 5; i++) {
    const startLive = liveBytes();
    probe.reset();
    tidy(() => {
      for (const t of f(x0)) t.dataSync();
    });
    const peaks = probe.read();
    calls.push({ live: MB(peaks.liveBytes - startLive), buffers: MB(peaks.arrayBuffers - base), held: MB(heldBytes() - base) });
  }
  probe.stop();
  const stats = mode === 'compiled' ? (f as ReturnType<typeof compile>).stats() : null;
  return {
    mode, graph, layers, rows, dim, intermediateMB: MB(intermediate),
    // Per call (compiled: the trace, its verification, then replays), MB over the start.
    calls,
    maxRssMB: MB(process.resourceUsage().maxRSS * 1024),
    plan: stats?.plan ?? null,
    pool: stats?.pool ?? null,
  };
}

if (mode !== '') {
  process.stdout.write(`${JSON.stringify(run())}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const child = (m: string): unknown => JSON.parse(execFileSync(process.execPath, [...process.execArgv, self, ...process.argv.slice(2), '--mode', m], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), eager: child('eager'), compiled: child('compiled') }, null, 2)}\n`);
}
