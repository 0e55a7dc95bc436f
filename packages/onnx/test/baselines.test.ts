// The baselines of @titans/models exported and run in onnxruntime (see architectureSuite):
// attention-only (Transformer++, SWA) and the other memories (DeltaNet, Gated DeltaNet, Miras).
import { architectureSuite } from './helpers.js';

architectureSuite(['transformer', 'swa', 'deltanet', 'gated-deltanet', 'moneta', 'yaad', 'memora']);
