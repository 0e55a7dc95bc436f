// Node entry of @titans/onnx (the package's "node" export condition): the same API as the
// browser entry, with Node's file system for exportCheckpointToOnnx.
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { setNodeHost } from './node-host.js';

setNodeHost({ fs, path });

export * from './index.js';
