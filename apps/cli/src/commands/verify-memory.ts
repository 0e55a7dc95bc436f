// `titans verify-memory [<case.json>...]`: runs golden files (neural-memory, and omega-memory
// for the Atlas family; by default the ones that ship in @titans/memory's golden/ folder)
// through the production (chunked parallel) path of @titans/memory on a chosen backend and
// reports the relative error of every output and outer-loop gradient against the file.
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { getBackend, setBackend, type Backend } from '@titans/tensor';
import { parseAnyGoldenCase, verifyAnyGoldenCase, type AnyGoldenCase, type GoldenReport } from '@titans/memory';
import { EXIT, UsageError, parseOptions, resolveUserPath, type Command, type CommandContext } from '../command.js';
import { readUserJson } from '../paths.js';

const BACKENDS = ['cpu', 'webgpu'] as const;
type BackendName = (typeof BACKENDS)[number];

const usage = `usage: titans verify-memory [<case.json>...] [--backend cpu|webgpu] [--json]

Runs neural-memory or omega-memory golden files through the production path (chunked
parallel scan, float32) and prints the relative error max|actual - expected| / max|expected|
of each output and outer-loop gradient. With no files, runs the golden vectors that ship
with @titans/memory (its golden/neural-memory and golden/omega-memory folders).

options:
  --backend cpu|webgpu   backend to run on (default cpu)
  --json                 print one JSON report instead of text

exit codes: 0 all within tolerance, 1 some above tolerance, 2 bad input`;

interface CaseResult {
  readonly file: string;
  readonly report: GoldenReport;
}

/** The golden files that ship with @titans/memory (golden/neural-memory, golden/omega-memory), sorted. */
export function bundledGoldenFiles(): string[] {
  let root: string;
  try {
    root = join(dirname(createRequire(import.meta.url).resolve('@titans/memory/package.json')), 'golden');
  } catch (error) {
    throw new UsageError(`cannot find the golden vectors of @titans/memory (${firstLine(error)}); name the files instead`);
  }
  const files: string[] = [];
  for (const family of ['neural-memory', 'omega-memory']) {
    let names: string[];
    try {
      names = readdirSync(join(root, family));
    } catch {
      continue;
    }
    files.push(...names.filter((n) => n.endsWith('.json')).sort().map((n) => join(root, family, n)));
  }
  if (files.length === 0) throw new UsageError(`no golden files in ${root}; name the files instead`);
  return files;
}

/** Reads and validates every file before anything runs, so bad input fails fast with exit 2. */
function loadCases(paths: readonly string[], context: CommandContext): { file: string; golden: AnyGoldenCase }[] {
  return paths.map((path) => {
    const file = resolveUserPath(path, context);
    const json = readUserJson(file, path);
    try {
      return { file: path, golden: parseAnyGoldenCase(json, path) };
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  });
}

async function createBackend(name: BackendName): Promise<{ backend: Backend; close: () => void }> {
  if (name === 'cpu') return { backend: getBackend(), close: () => {} };
  let webgpu: Record<string, unknown>;
  try {
    webgpu = (await import('@titans/webgpu')) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`the webgpu backend is not available: @titans/webgpu failed to load (${firstLine(error)})`);
  }
  const create = webgpu.createWebGPUBackend;
  if (typeof create !== 'function') throw new UsageError('the webgpu backend is not available: @titans/webgpu does not export createWebGPUBackend yet');
  let backend: Backend;
  try {
    backend = (await (create as () => Promise<Backend>)()) as Backend;
  } catch (error) {
    throw new UsageError(`the webgpu backend is not available: ${firstLine(error)}`);
  }
  const closable = backend as Backend & { destroy?: () => void };
  return { backend, close: () => closable.destroy?.() };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

function formatText(results: readonly CaseResult[], backend: string): string[] {
  const lines: string[] = [];
  for (const { file, report } of results) {
    const tolerance = (name: string): number => (name.startsWith('grad.') ? report.gradTolerance : report.outputTolerance);
    lines.push(`${report.passed ? 'PASS' : 'FAIL'}  ${basename(file)}`);
    const width = Math.max(...Object.keys(report.errors).map((n) => n.length));
    for (const [name, error] of Object.entries(report.errors)) {
      const over = error > tolerance(name) ? `  > ${tolerance(name)}` : '';
      lines.push(`      ${name.padEnd(width)}  ${error.toExponential(2)}${over}`);
    }
  }
  const passed = results.filter((r) => r.report.passed).length;
  const first = results[0]?.report;
  lines.push(`${passed} of ${results.length} cases within tolerance (${backend}, float32, parallel path; outputs ${first?.outputTolerance}, gradients ${first?.gradTolerance})`);
  return lines;
}

export const verifyMemory: Command = {
  name: 'verify-memory',
  summary: 'check the neural memory against golden files (relative errors, exit 1 above tolerance)',
  usage,
  async run(args, context) {
    const { options, positional } = parseOptions(args, { values: ['backend'], flags: ['json'] });
    const files = positional.length > 0 ? positional : bundledGoldenFiles();
    const backendName = (options.backend ?? 'cpu') as string;
    if (!(BACKENDS as readonly string[]).includes(backendName)) throw new UsageError(`unknown backend '${backendName}' (expected cpu or webgpu)`);
    const cases = loadCases(files, context);
    const { backend, close } = await createBackend(backendName as BackendName);
    const previous = getBackend();
    const results: CaseResult[] = [];
    try {
      setBackend(backend);
      for (const { file, golden } of cases) {
        try {
          results.push({ file, report: await verifyAnyGoldenCase(golden, { backend }) });
        } catch (error) {
          // The file parsed but its arrays do not fit together (shapes, lengths).
          throw new UsageError(`${file}: ${firstLine(error)}`);
        }
      }
    } finally {
      setBackend(previous);
      close();
    }
    const passed = results.every((r) => r.report.passed);
    if (options.json) {
      context.out(JSON.stringify({
        backend: backend.name, dtype: 'float32', path: 'parallel', passed,
        cases: results.map(({ file, report }) => ({ file, ...report })),
      }, null, 2));
    } else {
      for (const line of formatText(results, backend.name)) context.out(line);
    }
    return passed ? EXIT.ok : EXIT.failed;
  },
};
