// Memory as a Context (MAC, Eqs. 21-25), in the paper's order. The sequence is split into
// segments of S tokens; for each segment, with z = RMSNorm(x):
//
//   h   = M*_{t-1}(q)                  Eq. 21: retrieve with the memory as it was at the segment start
//   y   = z + Attn([p || h || z])      Eq. 22-23: persistent tokens, retrievals, then the segment
//   M_t = update of M_{t-1} with y       Eq. 24: the memory learns from the attention block's output
//   o   = y ⊗ M*_t(y)                  Eq. 25: read the updated memory at y, gate it with y
//
// then x + o and the MLP sub-layer. The memory is written with y, after attention; the
// NeuralMemory's post-update read (yPost) gives M*_t(y) token by token, so token i's gate
// depends on y_0..y_i only.
//
// Two readings the equations leave open, chosen by what a tiny model can learn (measured on
// the `full` plan's MQAR, apps/docs/reproduce):
//   - y carries the attention block's residual connection (the paper: "in all blocks, we use
//     residual connections"), so each row of y keeps its own token however diffuse the
//     attention still is. Without it the memory is written with blends of the segment and
//     MAC reached 34 / 31 / 6 % at N = 4 / 8 / 16 after 3000 steps;
//   - ⊗ puts the sigmoid on the attention side, o = RMSNorm(M*_t(y)) * sigmoid(RMSNorm(y)),
//     so what the memory recalls reaches the output directly and y decides how much of it
//     passes (MAG keeps the paper's MAG form, sigmoid on the memory side). With the residual
//     but the memory-side sigmoid the loss stayed near chance (3.3) for 900 steps.
// Both together are MAC's revision 2 (architectureRevision in config.ts).
//
// Streaming: the layer state holds the memory as of the current segment's start plus the
// block inputs of the unfinished segment. A call appends its tokens to that buffer and
// recomputes the segment from the segment-start memory, which is exactly what one parallel
// pass computes for those tokens; when the segment fills up, the memory state after it
// becomes the new segment-start state and the buffer empties. Token-by-token decoding
// therefore costs O(S) per token per layer and matches the parallel forward.
import { concat, narrow, nn, silu, type Tensor } from '@titans/tensor';
import type { NeuralMemory, NeuralMemoryState } from '@titans/memory';
import { MultiHeadAttention } from '../blocks/attention.js';
import { Block, type BlockOutput, type MlpSublayer } from '../blocks/block.js';
import { BranchGate } from '../blocks/gate.js';
import { createMemory } from '../blocks/memory.js';
import type { LayerState } from '../blocks/state.js';
import { attentionOf, mlpOf, type BlockContext } from './context.js';

/** Everything one segment step computes, for inspection and tests. */
export interface SegmentStep {
  /** Block output [B, L, dim]. */
  readonly output: Tensor;
  /** z = RMSNorm(x), the segment as the sub-layer sees it. */
  readonly normalized: Tensor;
  /** h = M*_{t-1}(q): retrievals from the segment-start memory [B, L, dim]. */
  readonly retrieved: Tensor;
  /** y = z + Attn([p || h || z]): the attention block's output, residual included [B, L, dim]. */
  readonly attended: Tensor;
  /** M*_t(y): the updated memory read at y [B, L, dim]. */
  readonly memoryRead: Tensor;
  /** The memory after learning from y (the next segment's start state once the segment is full). */
  readonly memoryState: NeuralMemoryState;
}

export class MemoryAsContextBlock extends Block {
  readonly segmentLength: number;
  readonly norm: nn.RMSNorm;
  readonly attention: MultiHeadAttention;
  readonly memory: NeuralMemory;
  readonly gate: BranchGate;
  readonly mlp: MlpSublayer;

  constructor(context: BlockContext) {
    super();
    const c = context.config;
    this.segmentLength = c.segmentLength;
    this.norm = new nn.RMSNorm(c.dim, c.normEps, { dtype: c.dtype });
    this.attention = attentionOf(context, 0);
    this.memory = createMemory(c, context.layer);
    this.gate = new BranchGate(c.dim, { eps: c.normEps, dtype: c.dtype });
    this.mlp = mlpOf(context);
  }

  initialState(): LayerState {
    return { memory: this.memory.initialState(), kv: null, segment: { inputs: null, tail: null } };
  }

  /**
   * One segment (or the first L tokens of one): block inputs x [B, L, dim] starting at
   * `position`, the memory as of the segment start, and the block inputs just before the
   * segment (`tail`, for the retrieval's causal convolution).
   */
  segment(x: Tensor, start: NeuralMemoryState, tail: Tensor | null, position: number): SegmentStep {
    const z = this.norm.forward(x);
    // The retrieval's queries come from the token stream z (Eq. 21: q_t = S^(t) W_Q); their
    // convolution continues across segments from z's own previous rows, not from y's.
    const retrieval: NeuralMemoryState = { memory: start.memory, convCache: this.retrievalConvCache(tail) };
    const h = this.memory.retrieve(z, retrieval); // Eq. 21
    const y = z.add(this.attention.attendWithMemory(z, h, position)); // Eq. 22-23, with the block's residual
    const learned = this.memory.forward(y, start); // Eq. 24, and M*_t(y) per token
    const o = this.gate.forward(learned.output, y); // Eq. 25: the recall, gated by sigmoid(RMSNorm(y))
    const afterAttention = x.add(o);
    return {
      output: this.mlp.forward(afterAttention),
      normalized: z, retrieved: h, attended: y, memoryRead: learned.output, memoryState: learned.state,
    };
  }

  /** The pre-convolution rows NeuralMemory keeps for its q/k/v convolution, computed for z's tail. */
  private retrievalConvCache(tail: Tensor | null): Tensor | null {
    if (!tail || !this.memory.conv) return null;
    return silu(this.memory.qkv.forward(this.norm.forward(tail)));
  }

  forward(x: Tensor, state: LayerState, position: number): BlockOutput {
    const s = this.segmentLength;
    const total = x.shape[1]!;
    let memory = (state.memory as NeuralMemoryState | null) ?? this.memory.initialState();
    let buffer = state.segment?.inputs ?? null;
    let tail = state.segment?.tail ?? null;
    let buffered = buffer?.shape[1] ?? 0;
    const outputs: Tensor[] = [];
    for (let at = 0; at < total;) {
      const take = Math.min(s - buffered, total - at);
      const piece = narrow(x, 1, at, take);
      const inputs = buffer ? concat([buffer, piece], 1) : piece;
      const step = this.segment(inputs, memory, tail, position + at - buffered);
      outputs.push(buffered > 0 ? narrow(step.output, 1, buffered, take) : step.output);
      at += take;
      if (buffered + take === s) {
        memory = step.memoryState;
        tail = this.nextTail(tail, inputs);
        buffer = null;
        buffered = 0;
      } else {
        buffer = inputs;
        buffered += take;
      }
    }
    return {
      output: outputs.length === 1 ? outputs[0]! : concat(outputs, 1),
      state: { memory, kv: null, segment: { inputs: buffer, tail } },
    };
  }

  private nextTail(tail: Tensor | null, inputs: Tensor): Tensor | null {
    const keep = this.memory.convKernel - 1;
    if (keep <= 0) return null;
    const joined = tail ? concat([tail, inputs], 1) : inputs;
    const length = joined.shape[1]!;
    return length > keep ? narrow(joined, 1, length - keep, keep) : joined;
  }
}
