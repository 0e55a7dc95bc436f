// One block per architecture, all from the same parts.
import type { Block } from '../blocks/block.js';
import { AttentionBlock } from './attention-block.js';
import type { BlockContext } from './context.js';
import { MemoryAsContextBlock } from './mac.js';
import { MemoryAsGateBlock } from './mag.js';
import { MemoryAsLayerBlock } from './mal.js';
import { MemoryBlock } from './memory-block.js';
import { HopeAttentionBlock, HopeBlock } from './hope.js';

export { AttentionBlock } from './attention-block.js';
export { MemoryAsContextBlock, type SegmentStep } from './mac.js';
export { MemoryAsGateBlock } from './mag.js';
export { MemoryAsLayerBlock } from './mal.js';
export { MemoryBlock } from './memory-block.js';
export { HopeAttentionBlock, HopeBlock } from './hope.js';
export type { BlockContext } from './context.js';

export function createBlock(context: BlockContext): Block {
  const c = context.config;
  switch (c.architecture) {
    case 'transformer': return new AttentionBlock(context, 0);
    case 'swa': return new AttentionBlock(context, c.window);
    case 'hope-attention': return new HopeAttentionBlock(context);
    case 'hope': return new HopeBlock(context);
    case 'mac': return new MemoryAsContextBlock(context);
    case 'mag':
    case 'atlas-mag':
      return new MemoryAsGateBlock(context);
    case 'mal':
    case 'atlas-mal':
      return new MemoryAsLayerBlock(context);
    case 'lmm':
    case 'deltanet':
    case 'gated-deltanet':
    case 'moneta':
    case 'yaad':
    case 'memora':
    case 'omeganet':
    case 'atlas':
      return new MemoryBlock(context);
  }
}
