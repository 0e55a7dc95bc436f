// One page per TypeScript source file of the workspace, so the docs can link equations
// and guides to the exact lines that implement them (see `src:` links in the markdown).
// The code is emitted as plain HTML with one anchor per line (#L12), not through the
// syntax highlighter: a hundred files of highlighting would double the site's build time.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, sourceFiles } from '../.vitepress/workspace';

/** Top-level exported names with their line numbers. */
function exportsOf(text: string): { name: string; line: number }[] {
  const out: { name: string; line: number }[] = [];
  text.split('\n').forEach((line, i) => {
    const m = /^export\s+(?:declare\s+)?(?:default\s+)?(?:async\s+)?(?:abstract\s+)?(?:function\*?|class|interface|type|enum|const|let)\s+([A-Za-z_$][\w$]*)/.exec(line);
    if (m) out.push({ name: m[1]!, line: i + 1 });
  });
  return out;
}

const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Comments dimmed, nothing else: enough to read the code, cheap to build. */
function renderLine(line: string): string {
  const comment = /^(\s*)(\/\/.*|\/\*.*|\*.*)$/.exec(line);
  if (comment) return `${escapeHtml(comment[1]!)}<span class="c">${escapeHtml(comment[2]!)}</span>`;
  const trailing = line.indexOf(' // ');
  if (trailing > 0 && !line.slice(0, trailing).includes("'") && !line.slice(0, trailing).includes('`')) {
    return `${escapeHtml(line.slice(0, trailing))}<span class="c">${escapeHtml(line.slice(trailing))}</span>`;
  }
  return escapeHtml(line);
}

export default {
  paths() {
    return sourceFiles().map((file) => {
      const lines = readFileSync(join(repoRoot, file.path), 'utf8').replace(/\s+$/, '').split('\n');
      const symbols = exportsOf(lines.join('\n'));
      const index = symbols.length ? `Exports: ${symbols.map((s) => `<a href="#L${s.line}"><code>${s.name}</code></a>`).join(' · ')}\n\n` : '';
      const body = lines.map((line, i) => `<span class="line" id="L${i + 1}"><a class="ln" href="#L${i + 1}">${i + 1}</a>${renderLine(line)}</span>`).join('\n');
      const content = `# ${file.path.split('/').pop()}\n\n<p class="source-path"><code>${file.path}</code> · ${lines.length} lines</p>\n\n${index}<pre class="source-code" v-pre><code>${body}\n</code></pre>\n`;
      return { params: { path: file.route }, content };
    });
  },
};
