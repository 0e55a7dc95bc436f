// Memory of a model's training gradient pass (loss and the gradient of every parameter, the
// heavy one of the three compiled functions train() builds), eager against compiled, with a
// plan's track settings: the Atlas passkey step of the full plan by default.
//
//   node --expose-gc --conditions=source --import tsx bench/compiled-memory.ts [--plan full] [--track passkey] [--arch atlas] [--mode eager|compiled] [--calls N] [--probe off]
//
// Without --mode, each mode runs in its own child process (resident-size peaks do not mix) and
// one JSON object with both is printed. Per call: the peak of live storages and of array
// buffers over the start (see packages/tensor/bench/memory-probe.ts), the bytes still held after
// a full garbage collection, and the seconds the call took. Compiled calls are the trace, its
// verification, then replays. The peaks are sampled after every backend call, and reading the
// process's memory figures costs far more than most calls (tens of microseconds, more with a
// large heap): the seconds are only meaningful with `--probe off`, which leaves the peaks out.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { countParameters, createModel } from '@titans/models';
import { compile, configureCpu, gradients, liveBytes, tensor, tidy, type Tensor } from '@titans/tensor';
import { MB, heldBytes, probePeaks } from '../../tensor/bench/memory-probe.ts';
import { PLANS, type PlanName } from '../src/index.ts';
import { trackSequenceLength } from '../src/estimate.ts';
import { trackConfig, trainRecipe } from '../src/experiments.ts';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const planName = arg('plan', 'full') as PlanName;
const track = arg('track', 'passkey');
const arch = arg('arch', 'atlas');
const mode = arg('mode', '');
const probing = arg('probe', 'on') !== 'off';

function run(): Record<string, unknown> {
  configureCpu({ threads: 1 });
  const plan = PLANS[planName];
  if (!plan) throw new Error(`unknown plan '${planName}'`);
  const config = trackConfig(plan, arch as Parameters<typeof trackConfig>[1], track);
  const model = createModel(config);
  const params = model.parameters();
  const batch = Number(arg('batch', String(trainRecipe(plan, arch as Parameters<typeof trainRecipe>[1], track).batchSize)));
  const length = Number(arg('length', String(trackSequenceLength(plan, track))));
  const vocab = Math.min(config.vocabSize, 250);
  const tokens = (shift: number): Int32Array => new Int32Array(batch * length).map((_, i) => (i * 7 + shift) % vocab);
  const ids = tensor(tokens(0), [batch, length], { dtype: 'int32' });
  const targets = tensor(tokens(1), [batch, length], { dtype: 'int32' });
  const step = (x: Tensor, y: Tensor): Tensor[] => {
    const value = model.loss(x, y);
    return [value, ...gradients(value, params)];
  };
  const f = mode === 'compiled' ? compile(step) : step;
  const calls = Number(arg('calls', mode === 'compiled' ? '4' : '2'));
  const base = heldBytes();
  const probe = probing ? probePeaks() : null;
  const rows: { liveMB: number | null; buffersMB: number | null; heldMB: number; seconds: number }[] = [];
  for (let i = 0; i < calls; i++) {
    const startLive = liveBytes();
    probe?.reset();
    const t0 = performance.now();
    tidy(() => {
      for (const t of f(ids, targets)) t.dataSync();
    });
    const seconds = (performance.now() - t0) / 1000;
    const peaks = probe?.read() ?? null;
    rows.push({
      liveMB: peaks === null ? null : MB(peaks.liveBytes - startLive), buffersMB: peaks === null ? null : MB(peaks.arrayBuffers - base),
      heldMB: MB(heldBytes() - base), seconds: Math.round(seconds * 100) / 100,
    });
    process.stderr.write(`${mode} call ${i}: ${JSON.stringify(rows.at(-1))}\n`);
  }
  probe?.stop();
  const stats = mode === 'compiled' ? (f as ReturnType<typeof compile<[Tensor, Tensor], Tensor[]>>).stats() : null;
  return {
    mode, plan: planName, track, arch, parameters: countParameters(config), batch, length,
    calls: rows,
    maxRssMB: MB(process.resourceUsage().maxRSS * 1024),
    compiled: stats === null ? null : { plan: stats.plan, pool: stats.pool },
  };
}

if (mode !== '') {
  process.stdout.write(`${JSON.stringify(run())}\n`);
} else {
  const self = fileURLToPath(import.meta.url);
  const child = (m: string): unknown => JSON.parse(execFileSync(process.execPath, [...process.execArgv, self, ...process.argv.slice(2), '--mode', m], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 }));
  process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), command: `bench/compiled-memory.ts ${process.argv.slice(2).join(' ')}`.trim(), eager: child('eager'), compiled: child('compiled') }, null, 2)}\n`);
}
