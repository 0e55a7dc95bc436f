// The browser entry of the pack-install test (test/pack-install.test.ts): TypeScript that a
// user would write, importing every published package. It is type-checked without Node's
// types, run in Node, bundled with esbuild, webpack and Vite, and run in Chromium; the
// numbers must agree between Node and the browser.

export interface SmokeResult {
  /** Mean surprise of three pieces through an untrained NeuralMemory (CPU). */
  readonly memorySurprise: number[];
  /** ByteTokenizer ids of a fixed text. */
  readonly tokens: number[];
  /** Sum of a tiny MAG's logits over those tokens (CPU). */
  readonly logitSum: number;
  /** Size of that model's ONNX export. */
  readonly onnxBytes: number;
  /** Bigram perplexity of the text (eval's metric). */
  readonly perplexity: number;
  /** max |WebGPU - CPU| / max |CPU| of a 33x17 by 17x9 matmul. */
  readonly webgpuMaxError: number;
  readonly adapter: string;
}

export const SMOKE_SOURCE = `import { Rng, cpuBackend, matmul, setBackend, sum, tensor, toBackend } from '@titans/tensor';
import { NeuralMemory } from '@titans/memory';
import { createWebGPUBackend } from '@titans/webgpu';
import { createModel, tinyConfig } from '@titans/models';
import { ByteTokenizer } from '@titans/data';
import { NgramModel, evaluatePerplexity } from '@titans/eval';
import { exportOnnx } from '@titans/onnx';

export async function smoke() {
  setBackend(cpuBackend);
  const memory = new NeuralMemory(16, { heads: 2, rule: 'titans' });
  let state = memory.initialState();
  const memorySurprise: number[] = [];
  for (let piece = 0; piece < 3; piece++) {
    const out = memory.forward(new Rng(piece).normal([1, 32, 16]), state);
    state = out.state;
    memorySurprise.push(out.surprise.loss.mean().item());
  }

  const tokenizer = new ByteTokenizer();
  const tokens = tokenizer.encode('titans in a browser, titans in node');
  const model = createModel(tinyConfig('mag'));
  const ids = tensor(Int32Array.from(tokens), [1, tokens.length], { dtype: 'int32' });
  const logitSum = sum(model.forward(ids).logits).item();
  const onnxBytes = exportOnnx(model, { sequenceLength: 16 }).bytes.length;
  const bigram = NgramModel.fit(Int32Array.from(tokens), { order: 2, vocabSize: tokenizer.vocabSize });
  const { perplexity } = await evaluatePerplexity({ model: bigram, tokens: Int32Array.from(tokens) });

  const a = new Rng(7).normal([33, 17]);
  const b = new Rng(8).normal([17, 9]);
  const expected = matmul(a, b).dataSync();
  const gpu = await createWebGPUBackend();
  const actual = await matmul(toBackend(a, gpu), toBackend(b, gpu)).data();
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  const adapter = gpu.adapterName;
  gpu.destroy();
  return { memorySurprise, tokens, logitSum, onnxBytes, perplexity, webgpuMaxError: error / scale, adapter };
}
`;
