// Node entry of @titans/eval (the package's "node" export condition): the same API as the
// browser entry, with Node's file system for writeReport.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { setNodeHost } from './node-host.ts';

setNodeHost({ fs, path });

export * from './index.ts';
