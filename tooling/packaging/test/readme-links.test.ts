// A published package's README is read on npm, where only the package's own files exist: a
// relative link must point at a file the package ships (its `files` list), and a link to
// anything else in the repository has to be absolute. Private packages and the repository's
// own README are read on GitHub, where relative links work, so they are not checked here.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../', import.meta.url));

interface Manifest {
  name: string;
  private?: boolean;
  files?: string[];
}

const published = ['packages', 'apps']
  .flatMap((group) => readdirSync(join(repo, group)).map((name) => `${group}/${name}`))
  .filter((dir) => existsSync(join(repo, dir, 'package.json')) && existsSync(join(repo, dir, 'README.md')))
  .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(repo, dir, 'package.json'), 'utf8')) as Manifest }))
  .filter(({ manifest }) => manifest.private !== true);

/** Markdown link targets `[text](target)` outside code blocks, with their 1-based lines. */
function linkTargets(markdown: string): Array<{ line: number; target: string }> {
  const found: Array<{ line: number; target: string }> = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (text.trimStart().startsWith('```')) fenced = !fenced;
    if (fenced) return;
    for (const match of text.replace(/`[^`]*`/g, (code) => ' '.repeat(code.length)).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      found.push({ line: i + 1, target: match[1]! });
    }
  });
  return found;
}

/** Every tracked file of the repository and every folder above one (ignored outputs such as `runs/` are not in it). */
const tracked = new Set<string>();
for (const file of execFileSync('git', ['ls-files', '-z'], { cwd: repo, encoding: 'utf8' }).split('\0')) {
  const parts = file.split('/');
  for (let i = 1; i <= parts.length && file !== ''; i++) tracked.add(parts.slice(0, i).join('/'));
}

/** Inline code spans naming a path (`a/b`) outside code blocks and outside link texts, with their lines. */
function pathSpans(markdown: string): Array<{ line: number; path: string }> {
  const found: Array<{ line: number; path: string }> = [];
  let fenced = false;
  markdown.split('\n').forEach((text, i) => {
    if (text.trimStart().startsWith('```')) fenced = !fenced;
    if (fenced) return;
    for (const match of text.matchAll(/(\[)?`([A-Za-z0-9._/-]+)`(\]\()?/g)) {
      if (match[1] !== undefined || match[3] !== undefined || !match[2]!.includes('/')) continue;
      found.push({ line: i + 1, path: match[2]! });
    }
  });
  return found;
}

/** Whether `file` (relative to the package) is shipped by a `files` list (npm always ships package.json, README, LICENSE). */
function shipped(file: string, files: readonly string[] | undefined): boolean {
  if (/^(package\.json|README(\.md)?|LICENSE)$/i.test(file)) return true;
  if (files === undefined) return true;
  return files.some((entry) => {
    const root = entry.replace(/\/+$/, '');
    return file === root || file.startsWith(`${root}/`);
  });
}

describe('links in published READMEs', () => {
  it('finds the published packages', () => {
    expect(published.map(({ manifest }) => manifest.name)).toContain('@titans/tensor');
    expect(published.map(({ manifest }) => manifest.name)).toContain('@titans/cli');
  });

  it('reads link targets outside code blocks and inline code, with their lines', () => {
    const markdown = 'See [a](./a.md) and `[not](b.md)`.\n```\n[c](c.md)\n```\n[d](https://x.org/d) [e](#e)';
    expect(linkTargets(markdown)).toEqual([
      { line: 1, target: './a.md' },
      { line: 5, target: 'https://x.org/d' },
      { line: 5, target: '#e' },
    ]);
  });

  it('reads path-like code spans that are not already link texts', () => {
    const markdown = 'See `src/a.ts`, [`src/b.ts`](https://x.org/b) and `word`.\n```\n`src/c.ts`\n```\n`bench/d.ts`';
    expect(pathSpans(markdown)).toEqual([
      { line: 1, path: 'src/a.ts' },
      { line: 5, path: 'bench/d.ts' },
    ]);
  });

  for (const { dir, manifest } of published) {
    it(`${manifest.name}: a repository file named in code the package does not ship is linked`, () => {
      const readme = readFileSync(join(repo, dir, 'README.md'), 'utf8');
      const unlinked: string[] = [];
      for (const { line, path } of pathSpans(readme)) {
        const local = normalize(path).replace(/\\/g, '/').replace(/\/$/, '');
        const inPackage = !/^(packages|apps|tooling)\//.test(path) && tracked.has(`${dir}/${local}`);
        if (inPackage ? !shipped(local, manifest.files) : tracked.has(path.replace(/\/$/, ''))) {
          unlinked.push(`${dir}/README.md:${line}: \`${path}\` is a repository path npm readers cannot open (make it a link to the repository)`);
        }
      }
      expect(unlinked).toEqual([]);
    });


    it(`${manifest.name}: every relative link is a file the package ships`, () => {
      const readme = readFileSync(join(repo, dir, 'README.md'), 'utf8');
      const broken: string[] = [];
      for (const { line, target } of linkTargets(readme)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
        const path = target.split('#')[0]!;
        const file = normalize(path).replace(/\\/g, '/');
        const escapes = relative(join(repo, dir), join(repo, dir, file)).startsWith('..');
        if (escapes || !existsSync(join(repo, dir, file)) || !shipped(file, manifest.files)) {
          broken.push(`${dir}/README.md:${line}: ${target} is not in the published package (link to the repository with an absolute URL)`);
        }
      }
      expect(broken).toEqual([]);
    });
  }
});
