// Child process for the benchmark: times matmuls in another WebGPU library on the same
// Dawn/SwiftShader adapter and prints one JSON line. Run as `compare.ts tfjs|ort`; the
// parent kills it when it hangs (onnxruntime-web can wait forever under Dawn for Node).
import { create, globals } from 'webgpu';
import { matmulModel } from './onnx-model.js';
import { medianTime, random } from './timing.js';

Object.assign(globalThis, globals);
const gpu = create([]);
// Both libraries look for navigator.gpu.
Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true });

const shapes = JSON.parse(process.argv[3] ?? '[]') as [number, number, number][];
const budgetMs = Number(process.argv[4] ?? 1500);

const time = (run: () => Promise<void>): Promise<number> => medianTime(run, budgetMs);

async function tfjs(): Promise<Record<string, number>> {
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tf.setBackend("webgpu") failed');
  const out: Record<string, number> = {};
  for (const [m, k, n] of shapes) {
    const a = tf.tensor2d(random(m * k), [m, k]);
    const b = tf.tensor2d(random(k * n), [k, n]);
    const ms = await time(async () => {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    });
    out[`${m}x${k}x${n}`] = (2 * m * n * k) / (ms * 1e6);
  }
  return out;
}

/** onnxruntime-web's WebGPU EP writes from SharedArrayBuffer-backed wasm memory, which
 * Dawn for Node rejects; copy such views first. */
function patchSharedWrites(): void {
  const proto = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
  const original = proto.writeBuffer;
  proto.writeBuffer = function (this: GPUQueue, buffer: GPUBuffer, offset: number, data: GPUAllowSharedBufferSource, dataOffset?: number, size?: number) {
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const el = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
      const start = data.byteOffset + (dataOffset ?? 0) * el;
      const len = size !== undefined ? size * el : data.byteLength - (dataOffset ?? 0) * el;
      const copy = new Uint8Array(len);
      copy.set(new Uint8Array(data.buffer, start, len));
      return original.call(this, buffer, offset, copy, 0, len);
    }
    return original.call(this, buffer, offset, data, dataOffset, size);
  } as typeof proto.writeBuffer;
}

async function ort(): Promise<Record<string, number>> {
  patchSharedWrites();
  const lib = await import('onnxruntime-web/webgpu');
  const out: Record<string, number> = {};
  for (const [m, k, n] of shapes) {
    const session = await lib.InferenceSession.create(matmulModel(m, k, n), { executionProviders: ['webgpu'] });
    const a = new lib.Tensor('float32', random(m * k), [m, k]);
    const b = new lib.Tensor('float32', random(k * n), [k, n]);
    const ms = await time(async () => {
      const r = await session.run({ a, b });
      await r['y']!.getData();
    });
    out[`${m}x${k}x${n}`] = (2 * m * n * k) / (ms * 1e6);
  }
  return out;
}

const which = process.argv[2];
try {
  const gflops = which === 'tfjs' ? await tfjs() : await ort();
  process.stdout.write(`${JSON.stringify({ ok: true, gflops })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ ok: false, error: String(err) })}\n`);
}
process.exit(0);
