// The packages as a user gets them: every publishable package is packed (its prepack builds
// it), the tarballs are installed into a blank project outside the workspace, and there
//  - the published manifests are checked (no "source" condition, LICENSE, README install line),
//  - the README examples are type-checked strictly (skipLibCheck false) and run in Node,
//  - a browser entry importing every package is type-checked without Node's types, bundled
//    with esbuild, webpack and Vite (no warnings), and run in headless Chromium (WebGPU on
//    SwiftShader), where it must give the numbers it gives in Node,
//  - the installed `titans` command runs (help, verify-memory, train, export, generate),
//  - a second copy of @titans/tensor in one process stops with both versions named.
// Dependencies come from the pnpm store (--prefer-offline): no network beyond the npm registry.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build as esbuild } from 'esbuild';
import { chromium } from 'playwright-core';
import { build as viteBuild, type Logger } from 'vite';
import webpack from 'webpack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMOKE_SOURCE, type SmokeResult } from '../src/smoke.ts';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const PACKAGES = ['packages/tensor', 'packages/memory', 'packages/webgpu', 'packages/models', 'packages/data', 'packages/eval', 'packages/experiments', 'packages/onnx', 'apps/cli'];
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

interface Manifest {
  name: string;
  version: string;
  exports?: unknown;
  files?: string[];
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const readJson = <T>(file: string): T => JSON.parse(readFileSync(file, 'utf8')) as T;

/** pnpm as the test was started with it (`pnpm test`), else through npx, pinned. */
function pnpmCommand(): [string, string[]] {
  const execPath = process.env.npm_execpath;
  if (execPath && /pnpm/.test(execPath)) return [process.execPath, [execPath]];
  return ['npx', ['--yes', 'pnpm@10.34.0']];
}

/** The environment of a command run in the blank project: without INIT_CWD, which npm and
 * pnpm set for scripts and the CLI takes as the user's directory. */
function projectEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.INIT_CWD;
  return env;
}

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  const result = spawnSync(command, args, { cwd, env: projectEnv(env), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${String(result.status ?? result.signal)}:\n${result.stdout}\n${result.stderr}`.slice(0, 8000));
  }
  return result.stdout;
}

/** `pnpm pack` of one package into `destination` (its prepack builds it first); the tarball's path. */
function pack(dir: string, destination: string): Promise<string> {
  const [command, prefix] = pnpmCommand();
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...prefix, 'pack', '--pack-destination', destination], { cwd: dir, env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8'); });
    child.on('error', reject);
    child.on('exit', (code) => {
      // pnpm prints the tarball's path as the last line.
      const tarball = output.trim().split('\n').pop()!.trim();
      if (code === 0 && tarball.endsWith('.tgz') && existsSync(tarball)) resolve(tarball);
      else reject(new Error(`pnpm pack in ${dir} exited ${String(code)}:\n${output}`.slice(0, 8000)));
    });
  });
}

function pnpm(args: string[], cwd: string): string {
  const [command, prefix] = pnpmCommand();
  // onnxruntime-node's install script would try to download CUDA files.
  return run(command, [...prefix, ...args], cwd, { ONNXRUNTIME_NODE_INSTALL: 'skip' });
}

/** The first ```lang block after `marker` (a heading). */
function blockAfter(text: string, marker: string, lang: string): string {
  const start = text.indexOf(marker);
  if (start < 0) throw new Error(`no '${marker}' in the README`);
  const open = text.indexOf(`\`\`\`${lang}\n`, start);
  if (open < 0) throw new Error(`no \`\`\`${lang} block after '${marker}'`);
  const from = open + lang.length + 4;
  return text.slice(from, text.indexOf('\n```', from) + 1);
}

const work = mkdtempSync(join(tmpdir(), 'titans-pack-'));
const tarballs = join(work, 'tarballs');
const app = join(work, 'app');
const manifests = new Map<string, Manifest>();
const tarballOf = new Map<string, string>();
const readmes = new Map<string, string>();

beforeAll(async () => {
  mkdirSync(tarballs);
  mkdirSync(app);
  // pnpm pack runs prepack (the package's build) and applies publishConfig; two at a time.
  const queue = [...PACKAGES];
  const worker = async (): Promise<void> => {
    for (let dir = queue.shift(); dir !== undefined; dir = queue.shift()) {
      const tarball = await pack(join(repo, dir), tarballs);
      tarballOf.set(readJson<Manifest>(join(repo, dir, 'package.json')).name, tarball);
    }
  };
  await Promise.all([worker(), worker()]);
  const spec = (name: string): string => `file:${tarballOf.get(name)!}`;
  const names = [...tarballOf.keys()];
  writeFileSync(join(app, 'package.json'), `${JSON.stringify({
    name: 'blank-app', private: true, type: 'module',
    dependencies: { ...Object.fromEntries(names.map((n) => [n, spec(n)])), webgpu: '0.6.2' },
    devDependencies: { typescript: '5.9.3', '@types/node': '20.19.25' },
    // The tarballs name each other by version range; they are not on the registry.
    pnpm: { overrides: Object.fromEntries(names.map((n) => [n, spec(n)])) },
  }, null, 2)}\n`);
  pnpm(['install', '--prefer-offline', '--config.ignore-scripts=true', '--config.auto-install-peers=true'], app);
  for (const name of names) {
    const dir = join(app, 'node_modules', name);
    manifests.set(name, readJson<Manifest>(join(dir, 'package.json')));
    readmes.set(name, readFileSync(join(dir, 'README.md'), 'utf8'));
  }
}, 600_000);

afterAll(() => {
  if (!process.env.TITANS_KEEP_PACK_TEST) rmSync(work, { recursive: true, force: true });
});

describe('published manifests', () => {
  it('have no "source" condition, ship dist, LICENSE and README, and build before packing', () => {
    for (const [name, manifest] of manifests) {
      expect(JSON.stringify(manifest.exports), name).not.toContain('source');
      // pnpm pack drops lifecycle scripts from the packed manifest; the workspace one has it.
      const source = PACKAGES.find((dir) => readJson<Manifest>(join(repo, dir, 'package.json')).name === name)!;
      expect(readJson<Manifest>(join(repo, source, 'package.json')).scripts?.prepack, name).toBe('pnpm run build');
      const dir = join(app, 'node_modules', name);
      expect(existsSync(join(dir, 'dist')), `${name} dist`).toBe(true);
      expect(existsSync(join(dir, 'src')), `${name} src`).toBe(false);
      expect(readFileSync(join(dir, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} the titans-ts authors/);
      expect(JSON.stringify(manifest), name).not.toContain('workspace:');
    }
  });

  it('take @titans/tensor as a peer dependency (one copy installed) with ranges a patch satisfies', () => {
    for (const [name, manifest] of manifests) {
      if (name === '@titans/tensor' || name === '@titans/cli' || name === '@titans/data' || name === '@titans/eval') continue;
      expect(manifest.peerDependencies?.['@titans/tensor'], name).toBe(`^${manifests.get('@titans/tensor')!.version}`);
      expect(manifest.dependencies?.['@titans/tensor'], name).toBeUndefined();
    }
    expect(manifests.get('@titans/cli')!.dependencies?.['@titans/onnx']).toMatch(/^\^/);
    const copies = readdirSync(join(app, 'node_modules', '.pnpm')).filter((d) => d.startsWith('@titans+tensor@'));
    expect(copies).toHaveLength(1);
  });

  it('each README opens with its npm install line', () => {
    for (const [name, readme] of readmes) {
      const head = readme.split('\n').slice(0, 8).join('\n');
      expect(head, name).toMatch(new RegExp(`npm install (-g )?${name.replace('/', '\\/')}`));
    }
  });
});

describe('README examples, installed', () => {
  const examples = join(app, 'examples');

  beforeAll(() => {
    mkdirSync(examples);
    for (const [name, readme] of readmes) {
      if (name === '@titans/cli') continue;
      writeFileSync(join(examples, `${name.split('/')[1]}.ts`), blockAfter(readme, '## Install\n', 'ts'));
    }
    writeFileSync(join(app, 'tsconfig.json'), `${JSON.stringify({
      compilerOptions: {
        // DOM: @webgpu/types (which @titans/webgpu's declarations use, as npm `webgpu` does) needs it.
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2023', 'DOM'], types: ['node'],
        strict: true, skipLibCheck: false, outDir: 'build', rootDir: '.',
      },
      include: ['examples'],
    }, null, 2)}\n`);
  });

  it('type-check strictly (skipLibCheck false) and compile', () => {
    run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], app);
  }, 180_000);

  const expected: Record<string, RegExp> = {
    tensor: /^f''\(0\.5\) = (\S+), analytic \1\n$/,
    memory: /tokens \d+: output \[1, \d+, 64\], mean surprise \d/,
    webgpu: /^\[ 2\.5, -0\.5, 5\.5, -2 \]\n$/,
    models: /^mag: \d+ parameters, logits \[1, 22, \d+\]\n$/,
    data: /^12 speeches; passkey prompt of \d+ tokens, pass key \d+\n$/,
    eval: /^bigram perplexity \d+\.\d\d\n$/,
    onnx: /^\d+ bytes of ONNX \(titans-onnx\/v1, mag\)\n$/,
    experiments: /^quick: \d+ experiments; MAC on MQAR has \d+ parameters\n$/,
  };
  for (const [example, pattern] of Object.entries(expected)) {
    it(`${example} runs in Node`, () => {
      const out = run(process.execPath, [join(app, 'build', 'examples', `${example}.js`)], app);
      expect(out).toMatch(pattern);
    }, 120_000);
  }
});

describe('the browser entry', () => {
  const entry = join(app, 'smoke.ts');
  const out = join(app, 'out');
  let nodeResult: SmokeResult;

  beforeAll(() => {
    writeFileSync(entry, SMOKE_SOURCE);
    writeFileSync(join(app, 'browser-runner.ts'), "import { smoke } from './smoke.js';\nconst result = await smoke();\nprocess.stdout.write(JSON.stringify(result));\n");
    writeFileSync(join(app, 'tsconfig.browser.json'), `${JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'ESNext', moduleResolution: 'Bundler', lib: ['ES2023', 'DOM'], types: [],
        strict: true, skipLibCheck: false, outDir: 'build-browser', rootDir: '.',
      },
      files: ['smoke.ts'],
    }, null, 2)}\n`);
  });

  it('type-checks without Node types (moduleResolution bundler, skipLibCheck false)', () => {
    run(process.execPath, [join(app, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.browser.json'], app);
    // The same module in Node (its "node" conditions: Dawn for WebGPU).
    writeFileSync(join(app, 'build-browser', 'runner.mjs'), "import { smoke } from './smoke.js';\nprocess.stdout.write(JSON.stringify(await smoke()));\n");
    nodeResult = JSON.parse(run(process.execPath, [join(app, 'build-browser', 'runner.mjs')], app)) as SmokeResult;
    expect(nodeResult.webgpuMaxError).toBeLessThan(1e-5);
  }, 180_000);

  it('bundles with esbuild (platform browser) without warnings', async () => {
    const result = await esbuild({ entryPoints: [join(app, 'build-browser', 'smoke.js')], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outfile: join(out, 'esbuild', 'smoke.js'), logLevel: 'silent', absWorkingDir: app });
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.text)).toEqual([]);
  }, 120_000);

  it('bundles with webpack 5 (target web) without warnings', async () => {
    const stats = await new Promise<webpack.Stats>((resolve, reject) => {
      webpack({
        mode: 'production', target: 'web', context: app, entry: './build-browser/smoke.js',
        output: { path: join(out, 'webpack'), filename: 'smoke.js', library: { type: 'module' }, module: true },
        experiments: { outputModule: true }, optimization: { minimize: false }, performance: { hints: false },
      }, (error, result) => (error || !result ? reject(error ?? new Error('webpack: no stats')) : resolve(result)));
    });
    const json = stats.toJson({ all: false, warnings: true, errors: true });
    expect(json.errors?.map((e) => e.message) ?? []).toEqual([]);
    expect(json.warnings?.map((w) => w.message) ?? []).toEqual([]);
  }, 180_000);

  it('bundles with Vite without warnings', async () => {
    const warnings: string[] = [];
    const logger: Logger = {
      info: () => {}, warn: (m) => warnings.push(m), warnOnce: (m) => warnings.push(m), error: (m) => warnings.push(m),
      clearScreen: () => {}, hasErrorLogged: () => false, hasWarned: false,
    };
    await viteBuild({
      root: app, configFile: false, customLogger: logger, logLevel: 'warn',
      build: { outDir: join(out, 'vite'), minify: false, lib: { entry: join(app, 'build-browser', 'smoke.js'), formats: ['es'], fileName: 'smoke' } },
    });
    expect(warnings).toEqual([]);
  }, 180_000);

  it('runs in Chromium from the esbuild and webpack bundles with the numbers it gives in Node', async () => {
    const types: Record<string, string> = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.html': 'text/html' };
    const server: Server = createServer((req, res) => {
      const path = join(out, decodeURIComponent((req.url ?? '/').split('?')[0]!));
      if (!path.startsWith(out) || !existsSync(path) || !extname(path)) {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<!doctype html><title>smoke</title>');
        return;
      }
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
      res.end(readFileSync(path));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    try {
      for (const bundle of ['esbuild/smoke.js', 'webpack/smoke.js']) {
        const page = await browser.newPage();
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));
        await page.goto(`${base}/`);
        // A string, not a function: the test runner rewrites import() inside functions.
        const result = await page.evaluate(`import(${JSON.stringify(`${base}/${bundle}`)}).then((m) => m.smoke())`) as SmokeResult;
        expect(errors, bundle).toEqual([]);
        expect(result.memorySurprise.length, bundle).toBe(nodeResult.memorySurprise.length);
        for (let i = 0; i < result.memorySurprise.length; i++) expect(Math.abs(result.memorySurprise[i]! - nodeResult.memorySurprise[i]!), `${bundle} surprise ${i}`).toBeLessThan(1e-5);
        expect(result.tokens, bundle).toEqual(nodeResult.tokens);
        expect(result.onnxBytes, bundle).toBe(nodeResult.onnxBytes);
        expect(Math.abs(result.logitSum - nodeResult.logitSum), bundle).toBeLessThan(1e-3 * Math.max(1, Math.abs(nodeResult.logitSum)));
        expect(result.webgpuMaxError, `${bundle} WebGPU matmul vs CPU (${result.adapter})`).toBeLessThan(1e-5);
        await page.close();
      }
    } finally {
      await browser.close();
      await new Promise((resolve) => server.close(resolve));
    }
  }, 180_000);
});

describe('the installed titans command', () => {
  const titans = (args: string[]): string => run(join(app, 'node_modules', '.bin', 'titans'), args, app);

  it('runs from its build and prints its help', () => {
    expect(titans(['--help'])).toMatch(/^usage: titans <command>/);
    expect(existsSync(join(app, 'node_modules', '@titans', 'cli', 'dist', 'run.mjs'))).toBe(true);
  }, 60_000);

  it('runs the README commands (verify-memory on the bundled golden vectors, train, export)', () => {
    const commands = blockAfter(readmes.get('@titans/cli')!, '## Install\n', 'sh')
      .split('\n').map((line) => line.replace(/#.*$/, '').trim()).filter((line) => line.startsWith('titans '));
    expect(commands.length).toBeGreaterThanOrEqual(3);
    for (const line of commands) titans(line.split(/\s+/).slice(1));
    expect(readFileSync(join(app, 'mag.onnx')).length).toBeGreaterThan(1000);
    expect(titans(['generate', 'runs/mag', '--prompt', 'The pass key', '--max-tokens', '4'])).toBeTypeOf('string');
  }, 240_000);

  it('runs reproduce --jobs 2 (child processes started from the build)', () => {
    const result = spawnSync(join(app, 'node_modules', '.bin', 'titans'), ['reproduce', '--smoke', '--jobs', '2', '--only', 'mqar', '--out', 'runs/reproduce'], { cwd: app, env: projectEnv(), encoding: 'utf8' });
    expect(result.stderr + result.stdout).toMatch(/reproduce: [1-9]\d* run, 0 skipped, 0 failed/);
    expect(result.status).toBe(0);
  }, 240_000);
});

describe('two copies of @titans/tensor', () => {
  it('stop at load with both versions named', () => {
    const installed = realpathSync(join(app, 'node_modules', '@titans', 'tensor'));
    const copy = join(work, 'other', 'node_modules', '@titans', 'tensor');
    cpSync(installed, copy, { recursive: true });
    const manifest = readJson<Manifest & Record<string, unknown>>(join(copy, 'package.json'));
    writeFileSync(join(copy, 'package.json'), JSON.stringify({ ...manifest, version: '0.1.99' }));
    // The copy's version is compiled into its dist; the file's location tells the two apart.
    const script = `await import(${JSON.stringify(join(installed, 'dist', 'index.mjs'))}); await import(${JSON.stringify(join(copy, 'dist', 'index.mjs'))});`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    const version = manifests.get('@titans/tensor')!.version;
    expect(result.stderr).toContain(`@titans/tensor: two copies are loaded in one process, ${version} (file://${join(installed, 'dist', 'index.mjs')}) and ${version} (file://${join(copy, 'dist', 'index.mjs')})`);
  });
});
