// Training throughput of train() with eager steps and with compiled steps (TrainOptions.compile)
// on the tiny configs, one CPU thread, same data and seed: tokens per second of wall-clock time
// and per CPU second of this process (steadier on a shared machine), over the steps after
// the first three (the compiled run traces at steps 1 and 2).
//
//   node --conditions=source --import tsx bench/compiled-train.ts [archs] [steps] [batch] [seq]
//   (defaults: mag,transformer 20 4 64)
import { configureCpu } from '@titans/tensor';
import { createModel, tinyConfig, type ArchitectureName } from '../src/index.js';
import { train, type BatchSource, type TrainingBatch } from '../src/train/index.js';

const archs = (process.argv[2] ?? 'mag,transformer').split(',') as ArchitectureName[];
const steps = Number(process.argv[3] ?? 20);
const batchSize = Number(process.argv[4] ?? 4);
const sequenceLength = Number(process.argv[5] ?? 64);

/** Bytes of a fixed pseudo-random text, as (input, next byte) rows. */
class Bytes implements BatchSource<number> {
  private position = 0;
  next(): TrainingBatch {
    const n = batchSize * sequenceLength;
    const token = (i: number): number => (Math.imul(i + 1, 2654435761) >>> 24) % 256;
    const inputs = Int32Array.from({ length: n }, (_, i) => token(this.position + i));
    const targets = Int32Array.from({ length: n }, (_, i) => token(this.position + i + 1));
    this.position += n;
    return { inputs, targets, batchSize, sequenceLength };
  }
  state(): number {
    return this.position;
  }
  restore(position: number): void {
    this.position = position;
  }
}

async function measure(architecture: ArchitectureName, compile: boolean): Promise<{ wall: number; cpu: number; loss: number }> {
  const model = createModel(tinyConfig(architecture));
  const marks: { t: number; cpu: number }[] = [];
  let loss = NaN;
  await train({
    model, steps, batches: new Bytes(), optimizer: { lr: 1e-3 }, compile,
    log: (e) => {
      if (e.type !== 'step') return;
      const c = process.cpuUsage();
      marks.push({ t: performance.now(), cpu: (c.user + c.system) / 1e6 });
      loss = e.loss;
    },
  });
  const first = marks[2]!;
  const last = marks.at(-1)!;
  const tokens = (marks.length - 3) * batchSize * sequenceLength;
  return { wall: tokens / ((last.t - first.t) / 1000), cpu: tokens / (last.cpu - first.cpu), loss };
}

configureCpu({ threads: 1 });
console.log(`train() tokens/s, tiny configs, batch ${batchSize} x ${sequenceLength}, ${steps} steps (rate over steps 4..${steps}), 1 thread`);
for (const arch of archs) {
  const eager = await measure(arch, false);
  const compiled = await measure(arch, true);
  const f = (x: number): string => x.toFixed(0).padStart(7);
  console.log(
    `  ${arch.padEnd(12)} eager ${f(eager.wall)} wall ${f(eager.cpu)} cpu   compiled ${f(compiled.wall)} wall ${f(compiled.cpu)} cpu   ` +
    `(x${(compiled.cpu / eager.cpu).toFixed(2)} per CPU second; final loss ${eager.loss.toFixed(4)} / ${compiled.loss.toFixed(4)})`,
  );
}
process.exit(0);
