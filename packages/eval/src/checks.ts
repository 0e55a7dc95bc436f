// Answer checks for generated continuations. Stricter than a bare substring test where a
// substring would accept wrong answers: '12345678' contains '1234567' but is not it.

/**
 * True when `value` (a number or UUID) appears in `output` as a whole token: not glued to
 * further digits, letters or dashes. Digit groups written with thousands separators
 * ('1,234,567') count as the number.
 */
export function checkNiahAnswer(output: string, value: string): boolean {
  const expected = value.toLowerCase();
  const text = /^\d+$/.test(expected) ? output.replace(/(\d),(?=\d{3}\b)/g, '$1') : output;
  const lower = text.toLowerCase();
  const glued = /[0-9a-z-]/;
  for (let at = lower.indexOf(expected); at >= 0; at = lower.indexOf(expected, at + 1)) {
    const before = at === 0 ? '' : lower[at - 1]!;
    const after = lower[at + expected.length] ?? '';
    if (!glued.test(before) && !glued.test(after)) return true;
  }
  return false;
}

/** The first sentence of a continuation (up to the first . ! ? or line break after some text). */
export function firstSentence(output: string): string {
  const trimmed = output.replace(/^\s+/, '');
  const match = /^[^.!?\n]*[.!?\n]?/.exec(trimmed);
  return (match ? match[0] : trimmed).trim();
}

/** BABILong rule: the first sentence names the target label and no other label. */
export function checkBabilongAnswer(output: string, target: string, labels: readonly string[]): boolean {
  const words = new Set(firstSentence(output).toLowerCase().match(/[a-z]+/g) ?? []);
  if (!words.has(target.toLowerCase())) return false;
  return labels.every((label) => label.toLowerCase() === target.toLowerCase() || !words.has(label.toLowerCase()));
}
