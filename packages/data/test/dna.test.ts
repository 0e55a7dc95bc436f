import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DnaTokenizer, dnaSourcePath, loadDna, parseFasta, readFasta, reverseComplement, sampleDnaBatch } from '../src/index.ts';

describe('DNA', () => {
  it('reads the shipped E. coli 536 excerpt (real sequence, 120 kbp of A/C/G/T)', () => {
    const [record] = readFasta(dnaSourcePath('ecoli-536-excerpt'));
    expect(record!.header).toContain('NC_008253.1');
    expect(record!.sequence).toHaveLength(120_000);
    expect(record!.sequence.startsWith('AGCTTTTCATTCTGACTGCAACGGGCAATATGTCTCTGTGTGG')).toBe(true);
    expect(/^[ACGT]+$/.test(record!.sequence)).toBe(true);
  });

  it('splits into contiguous train/val/test regions', () => {
    const splits = loadDna();
    expect([splits.train.length, splits.val.length, splits.test.length]).toEqual([96_000, 12_000, 12_000]);
    expect(new DnaTokenizer().decode(splits.train.subarray(0, 4))).toBe('AGCT');
  });

  it('parses multi-record and gzipped FASTA (synthetic fixture, not real sequence)', () => {
    const synthetic = '>synthetic-1 made up for this test\nACGTN\nacgt\n; comment\n>synthetic-2\nRYKM\n';
    expect(parseFasta(synthetic)).toEqual([
      { header: 'synthetic-1 made up for this test', sequence: 'ACGTNacgt' },
      { header: 'synthetic-2', sequence: 'RYKM' },
    ]);
    const dir = mkdtempSync(join(tmpdir(), 'titans-dna-'));
    const path = join(dir, 'synthetic.fa.gz');
    writeFileSync(path, gzipSync(synthetic));
    expect(readFasta(path)).toHaveLength(2);
    const splits = loadDna({ source: { path }, trainFraction: 0.5, valFraction: 0.25 });
    // ACGTNacgt + N separator + RYKM (ambiguity codes become N) = 14 ids
    expect(new DnaTokenizer().decode([...splits.train, ...splits.val, ...splits.test])).toBe('ACGTNACGTNNNNN');
  });

  it('tokenizes characters, complements, and samples deterministic batches', () => {
    const tokenizer = new DnaTokenizer();
    expect(tokenizer.encode('ACGTNacgtR')).toEqual([0, 1, 2, 3, 4, 0, 1, 2, 3, 4]);
    expect(tokenizer.decode(reverseComplement(tokenizer.encode('AACGTN')))).toBe('NACGTT');
    const { train } = loadDna();
    const a = sampleDnaBatch(train, { batchSize: 4, sequenceLength: 64, seed: 1, step: 3 });
    const b = sampleDnaBatch(train, { batchSize: 4, sequenceLength: 64, seed: 1, step: 3 });
    expect(Array.from(a.inputs)).toEqual(Array.from(b.inputs));
    expect(Array.from(a.targets.subarray(0, 63))).toEqual(Array.from(a.inputs.subarray(1, 64)));
    expect(Array.from(sampleDnaBatch(train, { batchSize: 4, sequenceLength: 64, seed: 1, step: 4 }).inputs)).not.toEqual(Array.from(a.inputs));
  });
});
