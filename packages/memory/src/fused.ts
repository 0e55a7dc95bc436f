// When the memory runs on the fused kernel (Backend.memoryScan, through the `memoryScan`
// op of @titans/tensor) instead of the composite chunked form of scan.ts, and the switch
// that turns the fused path off (for checking and benchmarking the composite one).
import { hasMemoryScan, hasMemoryScanClamp, sizeOf, type Tensor } from '@titans/tensor';
import { ruleKnobs, type MemoryRule } from './config.js';

let enabled = true;

/**
 * Turns the fused memory kernel on (default) or off for `scanParallel`, NeuralMemory and
 * everything built on them; returns the previous setting. Off, every backend runs the
 * composite chunked form (the two agree to rounding: test/fused.test.ts).
 */
export function setFusedMemoryKernels(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

export function fusedMemoryKernels(): boolean {
  return enabled;
}

/**
 * Why a scan cannot take the fused kernel, or null when it can. The kernel covers the
 * Titans rule: L2 attentional bias, L2 retention (weight decay), one momentum level, no
 * per-layer learning rates, no orthogonalised surprise, any depth, activation, residual and
 * norm; float32 or float64 on a backend that implements `memoryScan`. The surprise clamp
 * (`maxSurpriseNorm` > 0, on in every model preset) needs a backend whose memoryScan has it
 * (`memoryScanClamp`: the CPU's does, WebGPU's does not yet and runs the composite form),
 * and runs fused only when no gradient is recorded through the scan (`options.recording`:
 * inference, evaluation, generation). In training the fused forward is extra work, since its
 * gradient rule recomputes the composite form anyway: bench/compiled-train.ts (mag, mac) ran
 * 25-35% fewer tokens per CPU second with it.
 */
export function fusedUnsupported(
  rule: MemoryRule, inputs: { k: Tensor; delta?: Tensor | undefined }, total: number, options: { recording?: boolean } = {},
): string | null {
  if (!enabled) return 'fused kernels are switched off';
  const knobs = ruleKnobs(rule);
  if (rule.bias.kind !== 'l2') return `bias '${rule.bias.kind}'`;
  if (rule.retention.kind !== 'l2') return `retention '${rule.retention.kind}'`;
  if (knobs.momentumOrder !== 1) return `momentumOrder ${knobs.momentumOrder}`;
  if (knobs.layerLearningRates) return 'layerLearningRates';
  if (knobs.orthogonalizeSurprise) return 'orthogonalizeSurprise';
  if (inputs.delta) return 'Huber thresholds';
  if (inputs.k.dtype !== 'float32' && inputs.k.dtype !== 'float64') return `dtype ${inputs.k.dtype}`;
  if (!hasMemoryScan(inputs.k)) return `the ${inputs.k.backend.name} backend has no memoryScan`;
  if (rule.maxSurpriseNorm > 0 && !hasMemoryScanClamp(inputs.k)) return `maxSurpriseNorm: the ${inputs.k.backend.name} backend's memoryScan has no surprise clamp`;
  if (rule.maxSurpriseNorm > 0 && options.recording === true) return 'maxSurpriseNorm while a gradient is recorded (the composite form trains faster)';
  if (total === 0 || sizeOf(inputs.k.shape.slice(0, -2)) === 0) return 'no tokens';
  return null;
}
