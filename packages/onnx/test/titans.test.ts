// The Titans architectures exported and run in onnxruntime (see architectureSuite).
import { architectureSuite } from './helpers.js';

architectureSuite(['lmm', 'mac', 'mag', 'mal']);
