// Axis merging shared by the JavaScript and WebAssembly elementwise kernels.

/**
 * Merges adjacent axes that are contiguous in every view, so a contiguous tensor becomes
 * one flat loop and a broadcast row becomes two.
 */
export function collapse(shape: readonly number[], stridesList: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = stridesList.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && stridesList.every((s, i) => outStrides[i]![last] === s[d]! * shape[d]!)) {
      outShape[last]! *= shape[d]!;
      stridesList.forEach((s, i) => { outStrides[i]![last] = s[d]!; });
    } else {
      outShape.push(shape[d]!);
      stridesList.forEach((s, i) => outStrides[i]!.push(s[d]!));
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    outStrides.forEach((s) => s.push(0));
  }
  return { shape: outShape, strides: outStrides };
}
