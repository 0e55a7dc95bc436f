// Metrics, each a small pure function: perplexity and bits per byte from summed negative
// log-likelihood, per-position buckets, exact/string match, regression errors, and
// accuracy with a Wilson score interval.

/** exp(mean NLL); NLL in nats. */
export function perplexity(sumNll: number, tokenCount: number): number {
  if (tokenCount <= 0) throw new RangeError('perplexity: no tokens');
  return Math.exp(sumNll / tokenCount);
}

/** Bits per byte: total NLL (nats) over the UTF-8 bytes of the predicted text, in bits. */
export function bitsPerByte(sumNll: number, byteCount: number): number {
  if (byteCount <= 0) throw new RangeError('bitsPerByte: no bytes');
  return sumNll / byteCount / Math.LN2;
}

export interface PositionBucket {
  /** Positions [start, end) of the predicted token (position i predicts token i + 1). */
  readonly start: number;
  readonly end: number;
  readonly count: number;
  readonly meanNll: number;
  readonly perplexity: number;
}

/** Perplexity per bucket of `bucketSize` consecutive predictions. */
export function bucketedPerplexity(nll: ArrayLike<number>, bucketSize: number): PositionBucket[] {
  if (!Number.isInteger(bucketSize) || bucketSize < 1) throw new RangeError(`bucketedPerplexity: bucketSize must be a positive integer, got ${bucketSize}`);
  const buckets: PositionBucket[] = [];
  for (let start = 0; start < nll.length; start += bucketSize) {
    const end = Math.min(start + bucketSize, nll.length);
    let sum = 0;
    for (let i = start; i < end; i++) sum += nll[i]!;
    buckets.push({ start, end, count: end - start, meanNll: sum / (end - start), perplexity: Math.exp(sum / (end - start)) });
  }
  return buckets;
}

function normalizeAnswer(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/^[\s"'“‘]+|[\s.!?,;:"'”’]+$/g, '');
}

/** Equal after trimming, lower-casing, collapsing spaces and dropping outer quotes/punctuation. */
export function exactMatch(prediction: string, reference: string): boolean {
  return normalizeAnswer(prediction) === normalizeAnswer(reference);
}

/** RULER's string match: the reference appears in the prediction (case-insensitive). */
export function stringMatch(prediction: string, reference: string): boolean {
  return prediction.toLowerCase().includes(reference.toLowerCase());
}

function checkSameLength(a: ArrayLike<number>, b: ArrayLike<number>, name: string): void {
  if (a.length !== b.length) throw new RangeError(`${name}: lengths differ (${a.length} vs ${b.length})`);
  if (a.length === 0) throw new RangeError(`${name}: empty input`);
}

export function meanSquaredError(prediction: ArrayLike<number>, target: ArrayLike<number>): number {
  checkSameLength(prediction, target, 'meanSquaredError');
  let sum = 0;
  for (let i = 0; i < prediction.length; i++) sum += (prediction[i]! - target[i]!) ** 2;
  return sum / prediction.length;
}

export function meanAbsoluteError(prediction: ArrayLike<number>, target: ArrayLike<number>): number {
  checkSameLength(prediction, target, 'meanAbsoluteError');
  let sum = 0;
  for (let i = 0; i < prediction.length; i++) sum += Math.abs(prediction[i]! - target[i]!);
  return sum / prediction.length;
}

/** Wilson score interval for a binomial proportion (z = 1.96 gives 95%). */
export function wilsonInterval(successes: number, trials: number, z = 1.96): [number, number] {
  if (trials <= 0) return [0, 1];
  if (successes < 0 || successes > trials) throw new RangeError(`wilsonInterval: ${successes} successes out of ${trials}`);
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / denominator;
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

export interface AccuracyStat {
  readonly correct: number;
  readonly total: number;
  readonly accuracy: number;
  /** 95% Wilson interval. */
  readonly ci95: [number, number];
}

export function accuracyStat(correct: number, total: number): AccuracyStat {
  return { correct, total, accuracy: total === 0 ? 0 : correct / total, ci95: wilsonInterval(correct, total) };
}
