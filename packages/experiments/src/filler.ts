// Filler for the compact passkey that no model has seen in training. The training passkey
// (PASSKEY_RECIPE, and the passkey examples of the bytes track's mix) fills its prompts with
// RULER's five PK sentences ("The grass is green." ...), so a model may learn to skip those
// five sentences rather than to retrieve through arbitrary text. The held-out filler is the
// short sentences of the SOTU validation speeches (2000-2009): no training track reads that
// split (the text steps read SOTU 1790-1999 and Moby-Dick, the S-NIAH N/W and BABILong
// haystacks read Moby-Dick, S-NIAH PK and the passkey read the PK sentences), and every
// sentence that also occurs, verbatim, in any of those training texts is dropped.
import {
  COMPACT_PASSKEY_QUESTION, PK_FILLER_SENTENCES, SeededRandom, compactPasskey, deriveSeed, documentSentences, loadCorpus, mobyDickText, normalizeWhitespace,
  type CompactPasskey, type CompactPasskeyOptions,
} from '@titans/data';

/** Which filler a passkey prompt is made of: the training filler, or sentences never seen in training. */
export type FillerKind = 'seen' | 'held-out';

/** Where the held-out filler comes from, for the report. */
export const HELD_OUT_FILLER_SOURCE = 'sentences of 12-60 characters of the SOTU validation speeches (2000-2009) that occur nowhere in the training texts';

/** Every text the training tracks read, whitespace collapsed (the held-out filler must occur in none). */
export function trainingTexts(): string[] {
  return [
    ...loadCorpus('sotu', { split: 'train' }).map((d) => normalizeWhitespace(d.text)),
    // The whole novel: the S-NIAH N/W and BABILong haystacks read every chapter, not only the training split.
    normalizeWhitespace(mobyDickText()),
    ...PK_FILLER_SENTENCES,
  ];
}

let pool: readonly string[] | undefined;

/**
 * The held-out filler sentences (deterministic; computed once per process): short ASCII
 * sentences of the SOTU validation split, each occurring in no training text.
 */
export function heldOutFillerSentences(): readonly string[] {
  if (pool) return pool;
  const candidates = new Set<string>();
  for (const doc of loadCorpus('sotu', { split: 'val' })) {
    for (const sentence of documentSentences(doc.text, { minChars: 12, maxChars: 60 })) {
      // Plain ASCII prose ending a sentence: one byte per character, like the PK filler.
      if (/^[\x20-\x7e]+[.!?]$/.test(sentence) && !sentence.includes('pass key')) candidates.add(sentence);
    }
  }
  const texts = trainingTexts();
  const kept = [...candidates].filter((s) => !texts.some((t) => t.includes(s)));
  if (kept.length < 20) throw new Error(`heldOutFillerSentences: only ${kept.length} held-out sentences remain (expected hundreds)`);
  pool = kept;
  return pool;
}

/**
 * A compact passkey prompt with the given filler. 'seen' is compactPasskey of @titans/data
 * itself (the training prompts); 'held-out' has the same layout, passkey and depth for the
 * same options, with the filler drawn from heldOutFillerSentences() instead, so the two
 * kinds of prompt differ only in their filler.
 */
export function passkeyPrompt(options: CompactPasskeyOptions & { readonly filler?: FillerKind }): CompactPasskey {
  if ((options.filler ?? 'seen') === 'seen') return compactPasskey(options);
  const sentences = heldOutFillerSentences();
  const digits = options.digits ?? 5;
  const random = new SeededRandom(deriveSeed(options.seed, 'compact-passkey', options.length, digits));
  const passkey = String(random.int(10 ** (digits - 1), 10 ** digits));
  const needle = `The pass key is ${passkey}.`;
  const answer = ` ${passkey}.`;
  const budget = options.length - needle.length - COMPACT_PASSKEY_QUESTION.length - answer.length - 1;
  if (budget < 0) throw new RangeError(`passkeyPrompt: length ${options.length} is too short (need ${options.length - budget - 1})`);
  const filler: string[] = [];
  // Draw sentences until one does not fit; then fill what is left with the shorter ones that do.
  for (let used = 0, misses = 0; misses < 8;) {
    const sentence = sentences[random.int(0, sentences.length)]!;
    if (used + sentence.length + 1 > budget) {
      misses++;
      continue;
    }
    filler.push(sentence);
    used += sentence.length + 1;
  }
  const depth = options.depth ?? new SeededRandom(deriveSeed(options.seed, 'compact-passkey-depth')).next();
  const at = Math.round(depth * filler.length);
  const prompt = [...filler.slice(0, at), needle, ...filler.slice(at)].join(' ') + COMPACT_PASSKEY_QUESTION;
  return { prompt, answer, passkey };
}
