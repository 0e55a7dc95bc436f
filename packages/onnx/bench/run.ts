// Streaming throughput of exported models in onnxruntime-node (and onnxruntime-web's wasm
// provider) next to our own CPU runtime, for the same model and the same pieces. Writes
// bench-results/onnx.json. Every figure is the best of several timed runs after a warm-up.
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { cpuInfo, noGrad, Rng, tensor, type Tensor } from '@titans/tensor';
import { createModel, releaseModelState, tinyConfig, type ArchitectureName, type ModelState } from '@titans/models';
import { decodeModel, exportOnnx, OnnxRunner, type OrtModule } from '../src/index.js';

const ARCHITECTURES: ArchitectureName[] = (process.env.BENCH_ARCHS?.split(',') as ArchitectureName[] | undefined) ?? ['lmm', 'mac', 'mag', 'mal', 'transformer', 'swa', 'gated-deltanet', 'moneta'];
const PIECE = 64;
const PIECES = 4;
const REPEATS = 3;

ortWeb.env.wasm.numThreads = 1;

async function best(run: () => Promise<void>): Promise<number> {
  await run();
  let fastest = Infinity;
  for (let i = 0; i < REPEATS; i++) {
    const start = performance.now();
    await run();
    fastest = Math.min(fastest, performance.now() - start);
  }
  return fastest / 1000;
}

function runtimeStream(model: ReturnType<typeof createModel>, pieces: Tensor[]): void {
  noGrad(() => {
    let state: ModelState = model.initialState(1);
    for (const ids of pieces) {
      const out = model.forward(ids, state);
      out.logits.dataSync();
      out.logits.dispose();
      releaseModelState(state, out.state);
      state = out.state;
    }
    releaseModelState(state);
  });
}

const results = [];
for (const architecture of ARCHITECTURES) {
  const config = tinyConfig(architecture);
  const model = createModel(config);
  const rng = new Rng(1);
  const flat = Int32Array.from({ length: PIECE * PIECES }, () => rng.int(config.vocabSize));
  const pieces = Array.from({ length: PIECES }, (_, p) => tensor(flat.slice(p * PIECE, (p + 1) * PIECE), [1, PIECE], { dtype: 'int32' }));
  const tokens = PIECE * PIECES;

  const exportStart = performance.now();
  const exported = exportOnnx(model, { sequenceLength: PIECE });
  const exportSeconds = (performance.now() - exportStart) / 1000;
  const nodes = decodeModel(exported.bytes).graph.node.length;

  const runtime = await best(async () => runtimeStream(model, pieces));
  const node = await OnnxRunner.create(exported, { ort: ortNode as OrtModule });
  const nodeSeconds = await best(async () => { await node.stream(flat); });
  const node1 = await OnnxRunner.create(exported, { ort: ortNode as OrtModule, threads: 1 });
  const node1Seconds = await best(async () => { await node1.stream(flat); });
  const web = await OnnxRunner.create(exported, { ort: ortWeb as OrtModule });
  const webSeconds = await best(async () => { await web.stream(flat); });
  await Promise.all([node.release(), node1.release(), web.release()]);

  const row = {
    architecture,
    parameters: model.parameterCount(),
    tokens,
    pieceLength: PIECE,
    graphNodes: nodes,
    modelBytes: exported.bytes.length,
    exportSeconds: round(exportSeconds),
    runtimeTokensPerSecond: round(tokens / runtime),
    onnxruntimeNodeTokensPerSecond: round(tokens / nodeSeconds),
    onnxruntimeNode1ThreadTokensPerSecond: round(tokens / node1Seconds),
    onnxruntimeWebWasmTokensPerSecond: round(tokens / webSeconds),
    nodeOverRuntime: round(runtime / nodeSeconds),
    webOverRuntime: round(runtime / webSeconds),
  };
  results.push(row);
  console.log(JSON.stringify(row));
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

const output = {
  benchmark: 'onnx: streaming tokens/s, exported model in onnxruntime vs our CPU runtime',
  date: new Date().toISOString(),
  host: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, titansCpu: cpuInfo() },
  setup: `tinyConfig (width 48, 2 blocks, memory chunk 16, MAC segment 32, window 64), batch 1, ${PIECES} pieces of ${PIECE} tokens with the state carried; onnxruntime-node 1.30.0 CPU provider (default threads, and 1 thread), onnxruntime-web 1.30.0 wasm (1 thread); our runtime: CPU backend (default configuration); best of ${REPEATS} after a warm-up`,
  results,
};
mkdirSync('bench-results', { recursive: true });
writeFileSync('bench-results/onnx.json', `${JSON.stringify(output, null, 2)}\n`);
console.log('wrote bench-results/onnx.json');
