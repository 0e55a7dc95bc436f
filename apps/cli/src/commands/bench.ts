// `titans bench`: runs every workspace package's benchmark (bench/run.ts, from the TypeScript
// sources) one after another and collects the JSON each writes into bench-results/ into one
// file, with the machine it ran on.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { arch, cpus, platform, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { EXIT, UsageError, type Command } from '../command.js';
import { formatTable } from '../format.js';
import { expectPositional, integerValue, parseArgs } from '../options.js';
import { checkWritableDirectory, makeOutputDirectory, outputDirectory, repositoryRoot } from '../paths.js';

const usage = `usage: titans bench [--filter NAME,...] [--list] [--timeout SECONDS] [--out DIR] [--json]

Runs each package's benchmark (node --conditions=source --import tsx bench/run.ts in the
package, what \`pnpm --filter <pkg> bench\` runs), one at a time, and writes all their results
(bench-results/*.json) into DIR/bench.json.

  --filter NAME,...   only these packages (@titans/tensor or tensor)
  --list              list the packages with a benchmark and exit
  --timeout SECONDS   per package (default 900)
  --out DIR           default runs/bench-<timestamp>
  --json              print the combined JSON on stdout

exit codes: 0 all ran, 1 some failed, 2 bad input`;

interface BenchPackage {
  readonly name: string;
  readonly dir: string;
}

/** Workspace packages whose package.json has a bench script and whose bench/run.ts exists. */
export function benchPackages(root: string): BenchPackage[] {
  const found: BenchPackage[] = [];
  for (const group of ['packages', 'apps']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const entry of readdirSync(base).sort()) {
      const dir = join(base, entry);
      const manifest = join(dir, 'package.json');
      if (!existsSync(manifest) || !existsSync(join(dir, 'bench', 'run.ts'))) continue;
      const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string; scripts?: Record<string, string> };
      if (pkg.name && pkg.scripts?.bench) found.push({ name: pkg.name, dir });
    }
  }
  return found;
}

interface BenchRun {
  readonly package: string;
  readonly ok: boolean;
  readonly exitCode: number | null;
  readonly seconds: number;
  /** bench-results file name -> its JSON. */
  readonly results: Record<string, unknown>;
}

function runOne(pkg: BenchPackage, timeoutSeconds: number): Promise<BenchRun> {
  const started = Date.now();
  const tsx = import.meta.resolve('tsx');
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', tsx, 'bench/run.ts'], { cwd: pkg.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    // The benchmark's own report goes to stderr, so stdout stays for --json.
    child.stdout.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutSeconds * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const results: Record<string, unknown> = {};
      const dir = join(pkg.dir, 'bench-results');
      if (existsSync(dir)) {
        for (const file of readdirSync(dir).filter((f) => f.endsWith('.json')).sort()) {
          // Only what this run wrote (older files may be from other benchmarks' runs).
          if (statSync(join(dir, file)).mtimeMs < started - 1000) continue;
          try {
            results[file] = JSON.parse(readFileSync(join(dir, file), 'utf8'));
          } catch {
            results[file] = { error: 'not valid JSON' };
          }
        }
      }
      resolveRun({ package: pkg.name, ok: code === 0, exitCode: code, seconds: (Date.now() - started) / 1000, results });
    });
  });
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'run every package benchmark and collect their JSON into one file',
  usage,
  async run(args, context) {
    const parsed = parseArgs(args, { values: ['filter', 'timeout'], flags: ['list'] });
    expectPositional(parsed.positional, 0, 0, 'no arguments');
    const root = repositoryRoot(context.cwd);
    let packages = benchPackages(root);
    if (packages.length === 0) throw new UsageError(`no package benchmarks found under ${root} (run inside the titans-ts repository)`);
    if (parsed.values.filter !== undefined) {
      const wanted = parsed.values.filter.split(',').map((s) => s.trim());
      for (const name of wanted) {
        if (!packages.some((p) => p.name === name || p.name === `@titans/${name}`)) {
          throw new UsageError(`--filter: no benchmark in package '${name}' (have: ${packages.map((p) => p.name).join(', ')})`);
        }
      }
      packages = packages.filter((p) => wanted.includes(p.name) || wanted.includes(p.name.replace(/^@titans\//, '')));
    }
    if (parsed.flags.has('list')) {
      if (parsed.global.json) context.out(JSON.stringify(packages.map((p) => ({ name: p.name, dir: relative(root, p.dir) })), null, 2));
      else for (const p of packages) context.out(`${p.name.padEnd(18)} ${relative(root, p.dir)}/bench/run.ts`);
      return EXIT.ok;
    }
    const timeout = parsed.values.timeout ? integerValue('timeout', parsed.values.timeout, { min: 1 }) : 900;
    const out = outputDirectory(parsed.global.out, 'bench', context);
    checkWritableDirectory(out);
    const runs: BenchRun[] = [];
    for (const pkg of packages) {
      context.err(`== ${pkg.name} (${relative(root, pkg.dir)}/bench/run.ts)`);
      runs.push(await runOne(pkg, timeout));
    }
    const combined = {
      format: 'titans-bench', version: 1, date: new Date().toISOString(),
      machine: { platform: platform(), arch: arch(), cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryBytes: totalmem(), node: process.version },
      packages: runs,
    };
    makeOutputDirectory(out);
    const file = join(out, 'bench.json');
    writeFileSync(file, `${JSON.stringify(combined, null, 2)}\n`);
    if (parsed.global.json) context.out(JSON.stringify(combined, null, 2));
    else {
      context.out(formatTable(['package', 'status', 'seconds', 'result files'], runs.map((r) => [r.package, r.ok ? 'ok' : `failed (${r.exitCode ?? 'killed'})`, r.seconds.toFixed(1), Object.keys(r.results).join(', ') || '-'])));
      context.out(`combined results: ${file}`);
    }
    return runs.every((r) => r.ok) ? EXIT.ok : EXIT.failed;
  },
};
