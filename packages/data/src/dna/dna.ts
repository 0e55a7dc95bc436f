// DNA sequences for character-level modelling: a FASTA reader (plain or gzip) and a
// dataset of fixed-length windows with contiguous train/val/test regions. The package
// ships a real 120 kbp excerpt of the E. coli 536 genome (see assets/README.md).

import { existsSync, gunzipSync, join, readFileSync } from '../node-host.ts';
import { ownPackageDir } from '../paths.ts';
import { deriveSeed, SeededRandom } from '../random.ts';
import { DnaTokenizer } from './dna-tokenizer.ts';

export interface FastaRecord {
  /** Header line without the leading '>'. */
  readonly header: string;
  /** Sequence with line breaks removed (case kept). */
  readonly sequence: string;
}

/** Parses FASTA text: '>' header lines, sequence lines, ';' comment lines ignored. */
export function parseFasta(text: string): FastaRecord[] {
  const records: FastaRecord[] = [];
  let header: string | undefined;
  let parts: string[] = [];
  const flush = (): void => {
    if (header !== undefined) records.push({ header, sequence: parts.join('') });
  };
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line.length === 0 || line.startsWith(';')) continue;
    if (line.startsWith('>')) {
      flush();
      header = line.slice(1).trim();
      parts = [];
    } else {
      if (header === undefined) throw new Error('parseFasta: sequence data before the first header');
      parts.push(line.replace(/\s+/g, ''));
    }
  }
  flush();
  return records;
}

/** Reads a FASTA file; '.gz' files (or any gzip magic) are decompressed. */
export function readFasta(path: string): FastaRecord[] {
  const bytes = readFileSync(path);
  const text = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes).toString('utf8') : bytes.toString('utf8');
  return parseFasta(text);
}

export type DnaSourceName = 'ecoli-536-excerpt' | 'ecoli-536';

/** Where each named source lives. The full genome needs `apt-get install bowtie-examples`. */
export function dnaSourcePath(name: DnaSourceName): string {
  if (name === 'ecoli-536-excerpt') return join(ownPackageDir(), 'assets', 'ecoli-536-excerpt.fa.gz');
  if (name === 'ecoli-536') {
    const path = '/usr/share/doc/bowtie/examples/genomes/NC_008253.fna.gz';
    if (!existsSync(path)) throw new Error(`dnaSourcePath: ${path} is missing; install it with 'apt-get install bowtie-examples', or use 'ecoli-536-excerpt'`);
    return path;
  }
  throw new Error(`dnaSourcePath: unknown source '${String(name)}'`);
}

export interface DnaSplits {
  readonly source: string;
  /** Token ids (A=0 C=1 G=2 T=3 N=4) of each contiguous region. */
  readonly train: Uint8Array;
  readonly val: Uint8Array;
  readonly test: Uint8Array;
}

export interface LoadDnaOptions {
  /** A named source (default 'ecoli-536-excerpt') or a path to a FASTA/FASTA.gz file. */
  source?: DnaSourceName | { path: string };
  /** Fractions for train and val; test gets the rest (default 0.8, 0.1). */
  trainFraction?: number;
  valFraction?: number;
}

/**
 * All records of the source concatenated (separated by one N) and cut into three
 * contiguous regions, so no window of one split overlaps another.
 */
export function loadDna(options: LoadDnaOptions = {}): DnaSplits {
  const source = options.source ?? 'ecoli-536-excerpt';
  const path = typeof source === 'string' ? dnaSourcePath(source) : source.path;
  const records = readFasta(path);
  if (records.length === 0) throw new Error(`loadDna: no FASTA records in ${path}`);
  const ids = new DnaTokenizer().encodeBytes(records.map((r) => r.sequence).join('N'));
  const trainFraction = options.trainFraction ?? 0.8;
  const valFraction = options.valFraction ?? 0.1;
  if (!(trainFraction > 0 && valFraction >= 0 && trainFraction + valFraction < 1)) throw new RangeError('loadDna: need 0 < train, 0 <= val, train + val < 1');
  const trainEnd = Math.floor(ids.length * trainFraction);
  const valEnd = Math.floor(ids.length * (trainFraction + valFraction));
  return {
    source: typeof source === 'string' ? source : source.path,
    train: ids.subarray(0, trainEnd),
    val: ids.subarray(trainEnd, valEnd),
    test: ids.subarray(valEnd),
  };
}

/** Complement ids (A<->T, C<->G, N stays) in reverse order. */
export function reverseComplement(ids: ArrayLike<number>): Uint8Array {
  const complement = [3, 2, 1, 0, 4];
  const out = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[ids.length - 1 - i] = complement[ids[i]!] ?? 4;
  return out;
}

export interface DnaBatchOptions {
  batchSize: number;
  sequenceLength: number;
  seed: number;
  /** Batch number; batch k of a seed is always the same windows. */
  step: number;
  /** Use the reverse complement of a random half of the windows (default false). */
  reverseComplementAugment?: boolean;
}

/** Random windows of `sequenceLength + 1` ids from one region: inputs and next-id targets. */
export function sampleDnaBatch(region: Uint8Array, options: DnaBatchOptions): { inputs: Int32Array; targets: Int32Array } {
  const { batchSize, sequenceLength: T } = options;
  if (region.length < T + 1) throw new RangeError(`sampleDnaBatch: region of ${region.length} bases is shorter than sequenceLength + 1 (${T + 1})`);
  const random = new SeededRandom(deriveSeed(options.seed, 'dna-batch', options.step));
  const inputs = new Int32Array(batchSize * T);
  const targets = new Int32Array(batchSize * T);
  for (let b = 0; b < batchSize; b++) {
    const start = random.int(0, region.length - T);
    let window: ArrayLike<number> = region.subarray(start, start + T + 1);
    if (options.reverseComplementAugment && random.int(0, 2) === 1) window = reverseComplement(window);
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = window[t]!;
      targets[b * T + t] = window[t + 1]!;
    }
  }
  return { inputs, targets };
}
