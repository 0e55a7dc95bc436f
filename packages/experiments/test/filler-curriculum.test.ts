// The held-out passkey filler (no held-out sentence occurs in any training byte) and the
// curriculum over length (stage lengths, rows per step, resumable, validated up front).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ByteTokenizer, PK_FILLER_SENTENCES, compactPasskey, loadCorpus, normalizeWhitespace } from '@titans/data';
import { describe, expect, it } from 'vitest';
import {
  IGNORE, PLANS, collectResults, curriculumStage, experimentHash, heldOutFillerSentences, longContextSource, passkeyPrompt, passkeySource, planExperiments,
  retrievalFits, runPlan, validatePlan, withBudget, type ReproducePlan,
} from '../src/index.ts';

const tokenizer = new ByteTokenizer();
const decode = (ids: Int32Array): string => tokenizer.decode(Array.from(ids).filter((t) => t >= 0 && t < 256));

describe('held-out passkey filler', () => {
  it('has hundreds of short sentences, none of them in any byte the training tracks read', () => {
    const held = heldOutFillerSentences();
    expect(held.length).toBeGreaterThan(100);
    for (const s of held) expect(s.length).toBeLessThanOrEqual(60);
    expect(held.some((s) => PK_FILLER_SENTENCES.includes(s))).toBe(false);
    // The training batches themselves: the scale plan's bytes-track mix (text, S-NIAH, passkey, BABILong) and the passkey track.
    const scale = PLANS.scale;
    const mix = longContextSource({
      documents: scale.longContext.mix!.text.flatMap((c) => loadCorpus(c, { split: 'train' })), trainLength: scale.longContext.trainLength,
      batchSize: 4, seed: 7, lmFraction: scale.longContext.lmFraction, tasks: scale.longContext.mix!.tasks,
    })(undefined);
    const passkey = passkeySource({ length: 256, batchSize: 16, seed: 7 })(undefined);
    let bytes = '';
    for (let step = 0; step < 120; step++) bytes += normalizeWhitespace(decode(mix.next().inputs)) + normalizeWhitespace(decode(passkey.next().inputs));
    expect(bytes.length).toBeGreaterThan(200_000);
    expect(held.filter((s) => bytes.includes(s))).toEqual([]);
    // (The check can fail: the training filler is in those bytes.)
    expect(PK_FILLER_SENTENCES.filter((s) => bytes.includes(s)).length).toBeGreaterThan(0);
    // And the whole of every corpus the text steps and haystacks read.
    const corpora = [...loadCorpus('sotu', { split: 'train' }), ...loadCorpus('moby-dick')].map((d) => normalizeWhitespace(d.text)).join('\n');
    expect(held.filter((s) => corpora.includes(s))).toEqual([]);
  }, 120_000);

  it('makes prompts with the same passkey, layout and length limit as the training filler, but other sentences', () => {
    for (const length of [64, 128, 256, 1024]) {
      for (const depth of [0, 0.5, 1]) {
        const seen = passkeyPrompt({ length, seed: 3, depth });
        expect(seen).toEqual(compactPasskey({ length, seed: 3, depth }));
        const held = passkeyPrompt({ length, seed: 3, depth, filler: 'held-out' });
        expect(held.passkey).toBe(seen.passkey);
        expect(held.answer).toBe(seen.answer);
        expect(held.prompt.length + held.answer.length).toBeLessThan(length);
        expect(held.prompt).toContain(`The pass key is ${held.passkey}.`);
        expect(held.prompt.endsWith(' The pass key is')).toBe(true);
        for (const s of PK_FILLER_SENTENCES) expect(held.prompt).not.toContain(s);
      }
    }
    // Long prompts are filled nearly to their length, as the training filler's are.
    const long = passkeyPrompt({ length: 1024, seed: 1, filler: 'held-out' });
    expect(long.prompt.length).toBeGreaterThan(900);
    expect(() => passkeyPrompt({ length: 30, seed: 1, filler: 'held-out' })).toThrow(/too short/);
  });
});

describe('curriculum over length', () => {
  it('splits the steps into equal stages, each with as many rows as keep the tokens per step', () => {
    const curriculum = { fractions: [0.25, 0.5, 1], steps: 6 };
    expect([0, 1, 2, 3, 4, 5].map((s) => curriculumStage(256, s, curriculum))).toEqual([
      { length: 64, rowsPerRow: 4 }, { length: 64, rowsPerRow: 4 }, { length: 128, rowsPerRow: 2 }, { length: 128, rowsPerRow: 2 },
      { length: 256, rowsPerRow: 1 }, { length: 256, rowsPerRow: 1 },
    ]);
    expect(curriculumStage(256, 3, undefined)).toEqual({ length: 256, rowsPerRow: 1 });
  });

  it('trains the passkey at each stage length, every row with its answer, and resumes with the same batches', () => {
    const options = { length: 256, batchSize: 2, seed: 5, curriculum: { fractions: [0.25, 0.5, 1], steps: 6 } };
    const source = passkeySource(options)(undefined);
    const shapes: [number, number][] = [];
    let state: { step: number } | undefined;
    let fourth: Int32Array | undefined;
    for (let step = 0; step < 6; step++) {
      if (step === 3) state = source.state();
      const batch = source.next();
      if (step === 3) fourth = batch.inputs;
      shapes.push([batch.batchSize, batch.sequenceLength]);
      for (let b = 0; b < batch.batchSize; b++) {
        const targets = batch.targets.subarray(b * batch.sequenceLength, (b + 1) * batch.sequenceLength);
        expect(targets.some((t) => t !== IGNORE)).toBe(true);
      }
    }
    expect(shapes).toEqual([[8, 64], [8, 64], [4, 128], [4, 128], [2, 256], [2, 256]]);
    expect(passkeySource(options)(state!).next().inputs).toEqual(fourth);
    // Without a curriculum the batches are the ones the plans always had.
    const plain = passkeySource({ length: 256, batchSize: 2, seed: 5 })(undefined).next();
    const last = passkeySource(options)({ step: 5 }).next();
    expect(passkeySource({ length: 256, batchSize: 2, seed: 5 })({ step: 5 }).next()).toEqual(last);
    expect(plain.sequenceLength).toBe(256);
  });

  it('cuts text rows into stage-length rows and draws only the retrieval tasks that fit', () => {
    const documents = loadCorpus('sotu', { split: 'train' }).slice(0, 3);
    const base = { documents, trainLength: 512, batchSize: 2, seed: 9, lmFraction: 0.5, tasks: ['pk', 'n', 'w', 'passkey'] as const };
    const staged = longContextSource({ ...base, curriculum: { fractions: [0.25, 1], steps: 4 } })(undefined);
    const full = longContextSource(base)(undefined);
    // Step 0 draws retrieval examples: S-NIAH does not fit in 128 bytes, so only the compact passkey.
    const a0 = staged.next();
    full.next();
    expect([a0.batchSize, a0.sequenceLength]).toEqual([8, 128]);
    expect(retrievalFits('passkey', 128)).toBe(true);
    expect(retrievalFits('w', 128)).toBe(false);
    for (let b = 0; b < a0.batchSize; b++) expect(decode(a0.inputs.subarray(b * 128, (b + 1) * 128))).toContain('The pass key is');
    // Step 1 is a text step: its rows are the full batch's rows cut in four.
    const a1 = staged.next();
    const b1 = full.next();
    expect([a1.batchSize, a1.sequenceLength]).toEqual([8, 128]);
    expect(a1.inputs).toEqual(b1.inputs);
    expect(a1.targets).toEqual(b1.targets);
    staged.next();
    const a3 = staged.next();
    expect([a3.batchSize, a3.sequenceLength]).toEqual([2, 512]);
  });

  it('is checked before anything runs, and changes the spec hash only where it is set', () => {
    const smoke = PLANS.smoke;
    const withCurriculum = (train: ReproducePlan['passkey']['train'], trainLength = smoke.passkey.trainLength): ReproducePlan => ({ ...smoke, passkey: { ...smoke.passkey, trainLength, train } });
    expect(() => validatePlan(withCurriculum({ ...smoke.passkey.train, lengthCurriculum: [0.25, 1] }))).toThrow(/train-passkey-swa: lengthCurriculum \[0.25, 1\]: a stage of 16 bytes cannot hold a passkey prompt/);
    expect(() => validatePlan(withCurriculum({ ...smoke.passkey.train, lengthCurriculum: [1, 0.5] }))).toThrow(/must not decrease/);
    expect(() => validatePlan(withCurriculum({ ...smoke.passkey.train, lengthCurriculum: [0.5] }))).toThrow(/last fraction must be 1/);
    expect(() => validatePlan({ ...smoke, longContext: { ...smoke.longContext, train: { ...smoke.longContext.train, lengthCurriculum: [0.25, 1] } } })).toThrow(/no retrieval task of pk fits a stage of 96 bytes/);
    const scale = withBudget(PLANS.scale, { steps: 1, batchSize: 1, samples: 1, models: ['lmm'] });
    const dna = { ...scale, tracks: { dna: { ...scale.tracks!.dna!, train: { ...scale.tracks!.dna!.train, lengthCurriculum: [0.5, 1] } } } };
    expect(() => validatePlan(dna)).toThrow(/the dna track has no curriculum over length/);
    const good = withCurriculum({ ...smoke.passkey.train, lengthCurriculum: [0.5, 1] }, 128);
    expect(() => validatePlan(good)).not.toThrow();
    const plain = withCurriculum(smoke.passkey.train, 128);
    const train = planExperiments(good).find((e) => e.id === 'train-passkey-swa')!;
    const other = planExperiments(good).find((e) => e.id === 'train-mqar-lmm')!;
    expect(experimentHash(good, train)).not.toBe(experimentHash(plain, train));
    expect(experimentHash(good, other)).toBe(experimentHash(plain, other));
  });

  it('trains a plan with a curriculum end to end', async () => {
    const smoke = PLANS.smoke;
    const plan: ReproducePlan = { ...smoke, name: 'smoke-curriculum', passkey: { ...smoke.passkey, trainLength: 128, train: { ...smoke.passkey.train, steps: 2, lengthCurriculum: [0.5, 1] } } };
    const out = mkdtempSync(join(tmpdir(), 'titans-curriculum-'));
    const summary = await runPlan(plan, { out, only: ['passkey'] });
    expect(summary.failed).toEqual([]);
    const results = collectResults(plan, out);
    expect(results.trainPasskey.swa?.steps).toBe(2);
    // Both stages train on about as many tokens: 2 rows of 64 bytes, then 1 row of 128 (batch size 2).
    expect(results.trainPasskey.swa?.tokens).toBe(2 * 2 * 128);
  }, 120_000);
});
