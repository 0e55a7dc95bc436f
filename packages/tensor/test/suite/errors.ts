// Misuse raises errors that name the op, the shapes and the argument at fault.
import { describe, expect, test } from 'vitest';
import * as ops from '@titans/tensor';
import { gradients, grad, nn, tensor, type Backend, type Tensor } from '@titans/tensor';

export function defineErrorSuite(getBackend: () => Backend): void {
  const f32 = (values: number[], shape: number[]): Tensor => tensor(values, shape, { backend: getBackend() });
  const i32 = (values: number[], shape: number[]): Tensor => tensor(values, shape, { dtype: 'int32', backend: getBackend() });
  const zeros = (shape: number[]): Tensor => ops.zeros(shape, { backend: getBackend() });

  describe('errors', () => {
    test('shape mismatch in a broadcast names the op, both shapes and the axis', () => {
      expect(() => ops.add(zeros([2, 3]), zeros([4]))).toThrow('add: shapes [2, 3] and [4] cannot be broadcast (axis 1: 3 vs 4)');
      expect(() => ops.where(zeros([2]), zeros([3]), zeros([2]))).toThrow(/^where: shapes \[2\] and \[3\] cannot be broadcast/);
    });

    test('matmul, reshape, concat and linearScan shape errors', () => {
      expect(() => ops.matmul(zeros([2, 3]), zeros([4, 5]))).toThrow('matmul: inner dimensions differ: a [2, 3] has 3 columns, b [4, 5] has 4 rows');
      expect(() => ops.matmul(zeros([2, 2, 3]), zeros([3, 3, 1]))).toThrow(/matmul \(batch axes\): shapes \[2\] and \[3\] cannot be broadcast/);
      expect(() => ops.reshape(zeros([2, 3]), [4, 2])).toThrow('reshape: cannot reshape [2, 3] (6 elements) to [4, 2]');
      expect(() => ops.concat([zeros([2, 3]), zeros([3, 3])], 1)).toThrow('concat: xs[1] has shape [3, 3], incompatible with [2, 3] along axis 1');
      expect(() => ops.linearScan(zeros([2, 3]), zeros([3, 2]))).toThrow('linearScan: a [2, 3] and b [3, 2] must have the same shape');
      expect(() => ops.expand(zeros([2, 3]), [3, 3])).toThrow(/^expand: /);
      expect(() => ops.split(zeros([5]), 2)).toThrow('split: axis 0 of size 5 does not divide into 2 pieces');
      expect(() => ops.crossEntropy(zeros([2, 5]), i32([0, 1, 2], [3]))).toThrow('crossEntropy: targets [3] must match logits [2, 5] without its last axis');
      expect(() => ops.attention(zeros([1, 3, 4]), zeros([1, 3, 2]), zeros([1, 3, 4]))).toThrow('attention: incompatible q [1, 3, 4], k [1, 3, 2], v [1, 3, 4]');
      expect(() => ops.rope(zeros([2, 3]))).toThrow('rope: head dimension 3 must be even');
    });

    test('bad axes name the op, the axis and the rank', () => {
      expect(() => ops.sum(zeros([2, 3]), 2)).toThrow('sum: axis 2 is out of range for a tensor of rank 2');
      expect(() => ops.softmax(zeros([2, 3]), -3)).toThrow('logsumexp: axis -3 is out of range for a tensor of rank 2');
      expect(() => ops.cumsum(zeros([2]), 1)).toThrow(/axis 1 is out of range for a tensor of rank 1/);
      expect(() => ops.permute(zeros([2, 3]), [0, 0])).toThrow('permute: axes [0,0] are not a permutation');
      expect(() => ops.squeeze(zeros([2, 3]), 1)).toThrow('squeeze: axis 1 of [2, 3] has size 3, not 1');
      expect(() => ops.narrow(zeros([2, 3]), 1, 2, 2)).toThrow('narrow: range [2, 4) is out of bounds for axis 1 of size 3 (shape [2, 3])');
      expect(() => ops.sum(zeros([2, 3]), [1, -1])).toThrow('sum: repeated axis in [1,-1]');
      expect(() => ops.argmax(zeros([2]), 1)).toThrow('argmax: axis 1 is out of range for a tensor of rank 1');
    });

    test('dtype mixes name the op and both dtypes', () => {
      if (!getBackend().supports('float64')) {
        expect(() => ops.add(zeros([2]), i32([1, 2], [2]))).toThrow('add: dtype mismatch: a is float32 [2], b is int32 [2] (cast one of them)');
        return;
      }
      const f64 = tensor([1, 2], [2], { dtype: 'float64', backend: getBackend() });
      expect(() => ops.mul(zeros([2]), f64)).toThrow('mul: dtype mismatch: a is float32 [2], b is float64 [2] (cast one of them)');
      expect(() => ops.matmul(zeros([2, 2]), ops.reshape(f64, [2, 1]))).toThrow('matmul: dtype mismatch: a is float32, b is float64');
      expect(() => ops.concat([zeros([2]), f64])).toThrow('concat: xs[1] is float64, xs[0] is float32');
      expect(() => ops.indexSelect(zeros([3, 2]), 0, f32([0, 1], [2]))).toThrow('indexSelect: indices must be int32, got float32');
      expect(() => ops.crossEntropy(zeros([2, 3]), f32([0, 1], [2]))).toThrow('crossEntropy: targets must be int32, got float32');
    });

    test('out-of-range indices name the op, the index and the valid range', () => {
      if (!getBackend().syncRead) return; // GPU kernels cannot raise from inside a dispatch.
      expect(() => ops.indexSelect(zeros([3, 2]), 0, i32([0, 3], [2]))).toThrow('indexSelect: gather: index 3 at position 1 is out of range [0, 3) (x [3, 2])');
      expect(() => ops.indexSelect(zeros([3, 2]), 0, i32([-1], [1]))).toThrow(/index -1 at position 0 is out of range \[0, 3\)/);
      expect(() => ops.scatterAdd(zeros([2, 2]), i32([0, 4], [2]), 3)).toThrow('scatterAdd: index 4 at position 1 is out of range [0, 3)');
      expect(() => ops.takeAlongLastAxis(zeros([2, 3]), i32([0, 3], [2, 1]))).toThrow('takeAlongLastAxis: index 3 at position 1 is out of range [0, 3) for x [2, 3]');
      expect(() => ops.crossEntropy(zeros([2, 3]), i32([1, 5], [2]))).toThrow(/takeAlongLastAxis: index 5 at position 1 is out of range \[0, 3\)/);
    });

    test('a disposed tensor is named with its op and argument', () => {
      const x = zeros([2, 3]);
      const y = zeros([2, 3]);
      x.dispose();
      expect(x.disposed).toBe(true);
      expect(() => ops.add(y, x)).toThrow(/^add: argument 'b' \(tensor #\d+ \[2, 3\]\) was used after dispose\(\)$/);
      expect(() => ops.mul(x, 2)).toThrow(/^mul: argument 'a' \(tensor #\d+ \[2, 3\]\) was used after dispose\(\)$/);
      expect(() => ops.exp(x)).toThrow(/^exp: argument 'x' \(tensor #\d+ \[2, 3\]\)/);
      expect(() => ops.matmul(y, ops.reshape(x, [3, 2]))).toThrow(/^reshape: argument 'x'/);
      expect(() => ops.sum(x)).toThrow(/^sum: argument 'x'/);
      expect(() => ops.concat([y, x])).toThrow(/^concat: argument 'xs\[1\]'/);
      expect(() => x.toString()).not.toThrow();
      expect(x.toString()).toBe('Tensor([2, 3], float32, disposed)');
      x.dispose(); // a second dispose is harmless
      y.dispose();
    });

    test('autograd misuse', () => {
      const x = zeros([3]);
      x.requiresGrad = true;
      expect(() => gradients(ops.mul(x, 2), [x])).toThrow('gradients: output has shape [3]; pass gradOutput for non-scalar outputs');
      expect(() => gradients(ops.sum(x), [x], { gradOutput: zeros([2]) })).toThrow('gradients: gradOutput [2] does not match output []');
      expect(() => grad((y: Tensor) => ops.mul(y, 2))(zeros([3]))).toThrow('grad: the function must return a scalar tensor, got [3]');
      expect(() => ops.mul(x, 2).assign(zeros([3]))).toThrow(/^assign: tensor #\d+ is not a leaf \(it was produced by mul\)$/);
      expect(() => zeros([3]).assign(zeros([2]))).toThrow('assign: shape [2] does not match [3]');
    });

    test('gradients with respect to an untracked input is an error naming it; a tracked input the output ignores gets zeros', async () => {
      const x = f32([1, 2, 3], [3]);
      x.requiresGrad = true;
      const plain = zeros([2, 4]);
      const untracked = /^gradients: input 1 \[2, 4\] is not tracked \(requiresGrad is false\).*nn\.parameter\(t\).*t\.requiresGrad = true/;
      expect(() => gradients(ops.sum(x), [x, plain])).toThrow(untracked);
      // Computed from untracked tensors only: not tracked either.
      expect(() => gradients(ops.sum(x), [ops.mul(plain, 2)])).toThrow(/^gradients: input 0 \[2, 4\] is not tracked/);
      // Tracked after the output was computed from it: still no graph from the output, so zeros.
      const late = f32([5, 6], [2]);
      const out = ops.sum(ops.mul(x, 3));
      late.requiresGrad = true;
      const [gx, gLate] = gradients(out, [x, late]);
      expect(Array.from(await gx!.data())).toEqual([3, 3, 3]);
      expect(Array.from(await gLate!.data())).toEqual([0, 0]);
      await expect(ops.gradientsAsync(ops.sum(x), [plain])).rejects.toThrow(/^gradientsAsync: input 0 \[2, 4\] is not tracked/);
      for (const t of [x, plain, late, out, gx!, gLate!]) t.dispose();
    });

    test('modules name the layer and the input shape', () => {
      const layer = new nn.Linear(4, 2);
      expect(() => layer.forward(zeros([3, 5]))).toThrow('Linear(4 -> 2): input has 5 features (shape [3, 5])');
    });
  });
}
