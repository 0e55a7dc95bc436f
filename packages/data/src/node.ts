// Node entry of @titans/data (the package's "node" export condition): the same API as the
// browser entry, with Node's file system for corpora, time series, DNA and assets.
import * as fs from 'node:fs';
import * as module from 'node:module';
import * as path from 'node:path';
import * as url from 'node:url';
import * as zlib from 'node:zlib';
import { setNodeHost } from './node-host.ts';

setNodeHost({ fs, module, path, url, zlib });

export * from './index.ts';
