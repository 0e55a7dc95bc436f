// Splits prose into sentences: the unit haystacks are built from and needles are inserted
// between. Rules are simple and deterministic; they need only be good enough that a
// sentence boundary is a plausible place for another sentence.

/** Collapses whitespace runs (line wraps inside paragraphs) into single spaces. */
export function normalizeWhitespace(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

const boundary = /([.!?][’”"')\]]*)\s+(?=[‘“"'(\[]?[A-Z0-9])/g;

/** Sentences of one paragraph (whitespace already normalised or not). */
export function splitSentences(text: string): string[] {
  const flat = normalizeWhitespace(text);
  if (flat.length === 0) return [];
  return flat
    .replace(boundary, '$1\u0000')
    .split('\u0000')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export interface SentenceFilter {
  /** Shortest sentence kept, in characters (default 12). */
  minChars?: number;
  /** Longest sentence kept, in characters (default 600). */
  maxChars?: number;
}

/** Sentences of a document with paragraphs separated by blank lines, filtered by length. */
export function documentSentences(text: string, filter: SentenceFilter = {}): string[] {
  const minChars = filter.minChars ?? 12;
  const maxChars = filter.maxChars ?? 600;
  const out: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    for (const sentence of splitSentences(paragraph)) {
      if (sentence.length >= minChars && sentence.length <= maxChars && /[a-z]/.test(sentence)) out.push(sentence);
    }
  }
  return out;
}
