// Only the WGSL helpers a shader uses. The helper library (ops.ts) is ~10 kB of functions and
// private constants; compiling all of it into every elementwise or matmul pipeline made shader
// compilation (Dawn/Tint, and SwiftShader's JIT in tests) markedly slower. `helpersFor` scans a
// shader's own code for helper names and returns those helpers plus everything they use,
// transitively, in the library's order. Unused helpers never affect results, so the kept
// ones compute exactly what the full library computed.
import { HELPERS } from './ops.js';

interface HelperItem {
  readonly name: string;
  /** The declaration with its leading comment lines, as it appears in the library. */
  readonly text: string;
  /** Names of other helpers this one refers to. */
  readonly uses: readonly string[];
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/g;

function identifiers(code: string): Set<string> {
  // Comments mention names loosely ("log(1 + u)", "Math.pow"); only code counts.
  const stripped = code.replace(/\/\/[^\n]*/g, '');
  return new Set(stripped.match(IDENT) ?? []);
}

/** Split a helper library into its module-scope declarations (fn and var<private>). */
export function parseHelpers(library: string): HelperItem[] {
  const raw: { name: string; text: string }[] = [];
  let comments: string[] = [];
  let current: { name: string; lines: string[]; depth: number } | null = null;
  for (const line of library.split('\n')) {
    if (current) {
      current.lines.push(line);
      current.depth += braceDelta(line);
      if (current.depth <= 0) {
        raw.push({ name: current.name, text: current.lines.join('\n') });
        current = null;
      }
      continue;
    }
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (trimmed.startsWith('//')) {
      comments.push(line);
      continue;
    }
    const decl = /^(?:fn\s+|var<private>\s+)([A-Za-z_][A-Za-z0-9_]*)/.exec(trimmed);
    if (!decl) throw new Error(`@titans/webgpu: internal error: unexpected line in the WGSL helper library: ${line}`);
    const lines = [...comments, line];
    comments = [];
    const depth = braceDelta(line);
    if (depth > 0) current = { name: decl[1]!, lines, depth };
    else raw.push({ name: decl[1]!, text: lines.join('\n') });
  }
  if (current) throw new Error(`@titans/webgpu: internal error: unterminated helper ${current.name}`);
  const names = new Set(raw.map((r) => r.name));
  return raw.map(({ name, text }) => {
    const ids = identifiers(text);
    return { name, text, uses: [...ids].filter((id) => id !== name && names.has(id)) };
  });
}

function braceDelta(line: string): number {
  const code = line.replace(/\/\/[^\n]*/, '');
  let d = 0;
  for (const ch of code) {
    if (ch === '{') d++;
    else if (ch === '}') d--;
  }
  return d;
}

/** Selects from a parsed library the helpers `code` needs (transitively), in library order. */
export function selectHelpers(items: readonly HelperItem[], ...code: string[]): string {
  const byName = new Map(items.map((it) => [it.name, it]));
  const needed = new Set<string>();
  const pending: string[] = [];
  for (const part of code) {
    for (const id of identifiers(part)) if (byName.has(id) && !needed.has(id)) { needed.add(id); pending.push(id); }
  }
  while (pending.length > 0) {
    for (const dep of byName.get(pending.pop()!)!.uses) {
      if (!needed.has(dep)) { needed.add(dep); pending.push(dep); }
    }
  }
  return items.filter((it) => needed.has(it.name)).map((it) => it.text).join('\n');
}

let library: HelperItem[] | null = null;
const memo = new Map<string, string>();

/**
 * The subset of the WGSL helper library (`HELPERS` in ops.ts) that `code` refers to, with the
 * helpers those use in turn. Pass every part of the shader that may call a helper.
 */
export function helpersFor(...code: string[]): string {
  library ??= parseHelpers(HELPERS);
  const key = code.join('\u0000');
  let text = memo.get(key);
  if (text === undefined) {
    text = selectHelpers(library, ...code);
    if (memo.size > 4096) memo.clear();
    memo.set(key, text);
  }
  return text;
}
