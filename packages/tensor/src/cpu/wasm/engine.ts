// Loads the WebAssembly kernels (kernels.generated.ts, assembled from kernels.wat), owns their
// linear memory and runs jobs, either on the calling thread or shared with a pool of Node
// worker threads that instantiate the same module on the same (shared) memory.
//
// A job is a number of independent tasks, described at JOB in memory (see kernels.wat). The
// threads claim tasks from one atomic counter (CLAIM counts the tasks not yet handed out) and
// count them off in PENDING once done; the calling thread claims tasks too and then blocks in
// Atomics.wait until PENDING reaches 0. A task is only ever run by the thread that claimed it,
// so a worker that is slow to start (or never starts) delays nothing: the caller does the
// work itself. Workers are unref'd, so they never keep the process alive.
import { KERNELS_LOCAL_BASE64, KERNELS_SHARED_BASE64 } from './kernels.generated.js';
import { cpuConfig, onCpuConfig } from './config.js';

// Control block (Int32 indices at byte 0) and job description (byte 64); the arena follows.
const GEN = 0;
const CLAIM = 1;
const PENDING = 2;
const ERROR = 3;
const STOP = 4;
const READY = 5;
/** 1 while the job at JOB is a gemm that runs on the relaxed-SIMD (FMA) kernels. */
const USE_FMA = 6;
/** Counts the pools started; a worker of an older pool that wakes late leaves. */
const EPOCH = 7;
/** Nonzero while the job runs the `task` export of a module registered with the workers (see JobModule). */
const JOB_MODULE = 8;
/** Tasks of job modules that worker threads ran (for tests and stats). */
const WORKER_JOB_TASKS = 9;
/** The most job modules one worker has held instances of at once (for tests: stays <= JOB_MODULE_LIMIT). */
const WORKER_JOB_MODULES_PEAK = 10;
/** Job modules the workers have instantiated, all together (for tests: evicted ones come back as new instances). */
const WORKER_JOB_MODULE_INSTANCES = 11;
export const JOB = 64;
const MAX_THREADS = 64;
/** Byte offset where the host's data begins. */
export const ARENA = 65536;
const PAGE = 65536;
const MAX_PAGES = 32768;

export interface Engine {
  readonly memory: WebAssembly.Memory;
  /** True when the memory is shared (worker threads possible). */
  readonly shared: boolean;
  readonly module: WebAssembly.Module;
  readonly task: (t: number) => void;
  /** Elementwise kernels (see kernels.wat); run on the calling thread. */
  readonly binary: (op: number, swap: number, out: number, x: number, xrs: number, y: number, yrs: number, ycs: number, rows: number, cols: number) => void;
  readonly unary: (op: number, out: number, x: number, n: number) => void;
  /** Row-segment helpers of the float32 attention (see kernels.wat); byte addresses, float32 arithmetic. */
  readonly segMax: (p: number, n: number, scale: number) => number;
  readonly segExp: (p: number, n: number, scale: number, shift: number) => number;
  readonly segScale: (p: number, n: number, factor: number) => void;
  readonly dsRow: (s: number, p: number, n: number, delta: number, scale: number) => void;
  /** fdlibm's exp as the kernels compute it (see kernels.wat $exp2): checked against Math.exp before use. */
  readonly exp: (x: number) => number;
  /** Views on the memory; refreshed by `reserve` when it grows. */
  f32: Float32Array;
  i32: Int32Array;
}

/** @internal The bytes of a base64 string (the generated WebAssembly modules). */
export function decodeBase64(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function instantiate(bytes: Uint8Array<ArrayBuffer>, shared: boolean): Engine | null {
  if (!WebAssembly.validate(bytes)) return null;
  const memory = new WebAssembly.Memory({ initial: 2, maximum: MAX_PAGES, shared });
  const module = new WebAssembly.Module(bytes);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const exports = instance.exports as Record<string, unknown>;
  return {
    memory, shared, module,
    task: exports['task'] as Engine['task'],
    binary: exports['binary'] as Engine['binary'],
    unary: exports['unary'] as Engine['unary'],
    segMax: exports['seg_max'] as Engine['segMax'],
    segExp: exports['seg_exp'] as Engine['segExp'],
    segScale: exports['seg_scale'] as Engine['segScale'],
    dsRow: exports['ds_row'] as Engine['dsRow'],
    exp: exports['exp'] as Engine['exp'],
    f32: new Float32Array(memory.buffer),
    i32: new Int32Array(memory.buffer),
  };
}

let engine: Engine | null | undefined;

/** The kernels, or null where WebAssembly SIMD is unavailable. Loaded on first use. */
export function getEngine(): Engine | null {
  if (engine !== undefined) return engine;
  engine = null;
  if (typeof WebAssembly !== 'object') return engine;
  if (typeof SharedArrayBuffer === 'function') {
    try {
      engine = instantiate(decodeBase64(KERNELS_SHARED_BASE64), true);
    } catch {
      engine = null; // e.g. shared memory refused (browser without cross-origin isolation)
    }
  }
  if (!engine) {
    try {
      engine = instantiate(decodeBase64(KERNELS_LOCAL_BASE64), false);
    } catch {
      engine = null;
    }
  }
  return engine;
}

/** Makes the memory at least ARENA + bytes long; false when that exceeds the 2 GiB cap. */
export function reserve(e: Engine, bytes: number): boolean {
  const needed = ARENA + bytes;
  const have = e.memory.buffer.byteLength;
  if (needed <= have) return true;
  const pages = Math.ceil(needed / PAGE);
  if (pages > MAX_PAGES) return false;
  // Grow by at least a quarter of what we have, so that sizes creeping up do not grow each time.
  const target = Math.min(MAX_PAGES, Math.max(pages, Math.ceil((have / PAGE) * 1.25)));
  e.memory.grow(target - have / PAGE);
  e.f32 = new Float32Array(e.memory.buffer);
  e.i32 = new Int32Array(e.memory.buffer);
  return true;
}

// ---------------------------------------------------------------- worker pool

// The worker's whole program (CommonJS, run with `eval: true`, so there is no file to find
// whether this package runs from source, from dist or inside a bundle).
const WORKER_SOURCE = `
'use strict';
const { workerData, receiveMessageOnPort } = require('node:worker_threads');
const { module, fmaModule, memory, epoch, port } = workerData;
const ctl = new Int32Array(memory.buffer, 0, 16);
// Modules posted by the host (JobModule), instantiated on the same memory on first use, and
// the host's evictions ({ evict: id }), in the order the host sent them. The host posts a
// module before the first job that runs it, so it is waiting on the port; it posts an
// eviction before the module that takes the evicted one's place, so once this thread has
// read up to a module it holds no more than the host's bound (JOB_MODULE_LIMIT).
const jobTasks = new Map();
function jobTask(id) {
  for (;;) {
    const known = jobTasks.get(id);
    if (known !== undefined) return known;
    const m = port ? receiveMessageOnPort(port) : undefined;
    if (m === undefined) return null;
    if (m.message.evict !== undefined) {
      jobTasks.delete(m.message.evict);
      continue;
    }
    jobTasks.set(m.message.id, new WebAssembly.Instance(m.message.module, { env: { mem: memory } }).exports.task);
    Atomics.add(ctl, ${WORKER_JOB_MODULE_INSTANCES}, 1);
    for (let peak = Atomics.load(ctl, ${WORKER_JOB_MODULES_PEAK}); peak < jobTasks.size;) {
      const was = Atomics.compareExchange(ctl, ${WORKER_JOB_MODULES_PEAK}, peak, jobTasks.size);
      if (was === peak) break;
      peak = was;
    }
  }
}
const task = new WebAssembly.Instance(module, { env: { memory } }).exports.task;
const fmaTask = fmaModule ? new WebAssembly.Instance(fmaModule, { env: { memory } }).exports.gemm_task : null;
let seen = Atomics.load(ctl, ${GEN});
if (Atomics.load(ctl, ${EPOCH}) === epoch) Atomics.add(ctl, ${READY}, 1);
for (;;) {
  Atomics.wait(ctl, ${GEN}, seen);
  seen = Atomics.load(ctl, ${GEN});
  if (Atomics.load(ctl, ${STOP}) !== 0 || Atomics.load(ctl, ${EPOCH}) !== epoch) break;
  for (;;) {
    const left = Atomics.sub(ctl, ${CLAIM}, 1);
    if (left <= 0) break;
    // Read after the claim: the host writes it before it hands out the job's tasks.
    const jobId = Atomics.load(ctl, ${JOB_MODULE});
    const run = jobId !== 0 ? jobTask(jobId) : Atomics.load(ctl, ${USE_FMA}) === 1 ? fmaTask : task;
    try { run(left - 1); } catch { Atomics.store(ctl, ${ERROR}, 1); }
    if (jobId !== 0) Atomics.add(ctl, ${WORKER_JOB_TASKS}, 1);
    if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
  }
}
`;

interface WorkerLike {
  unref(): void;
  terminate(): Promise<number>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

interface PortLike {
  postMessage(value: unknown): void;
  unref(): void;
  close(): void;
}

interface Pool {
  readonly workers: WorkerLike[];
  /** One port per worker, for posting job modules. */
  readonly ports: PortLike[];
  /** Ids of the job modules posted to this pool's workers (always among the cached ones, see jobModule). */
  readonly posted: Set<number>;
  /** The workers hold an instance of the relaxed-SIMD kernels too (see setFmaModuleSource). */
  readonly fma: boolean;
  broken: boolean;
}

/** Gives the compiled relaxed-SIMD module for new workers, or null; set by fma.ts. */
let fmaModuleSource: (e: Engine) => WebAssembly.Module | null = () => null;

/** Internal (fma.ts): where new worker pools get the relaxed-SIMD kernels from. */
export function setFmaModuleSource(source: (e: Engine) => WebAssembly.Module | null): void {
  fmaModuleSource = source;
}

let pool: Pool | null = null;

function stopPool(e: Engine): void {
  if (!pool) return;
  const ctl = new Int32Array(e.memory.buffer, 0, 16);
  Atomics.store(ctl, STOP, 1);
  Atomics.add(ctl, GEN, 1);
  Atomics.notify(ctl, GEN);
  for (const w of pool.workers) void w.terminate().catch(() => undefined);
  for (const port of pool.ports) port.close();
  pool = null;
}

onCpuConfig((config) => {
  // A pool started without the relaxed-SIMD kernels is replaced once they are asked for.
  if (!engine || !pool) return;
  const wantsFma = config.fma && !pool.fma && fmaModuleSource(engine) !== null;
  if (config.threads !== pool.workers.length + 1 || !config.wasm || wantsFma) stopPool(engine);
});

/** Starts the worker pool for `threads - 1` workers if it is not running; null if impossible. */
function ensurePool(e: Engine, threads: number): Pool | null {
  if (pool) return pool.broken ? null : pool;
  if (!e.shared || threads < 2 || typeof process === 'undefined') return null;
  let threadsModule: typeof import('node:worker_threads') | undefined;
  try {
    threadsModule = process.getBuiltinModule?.('node:worker_threads');
  } catch {
    threadsModule = undefined;
  }
  if (!threadsModule) return null;
  const ctl = new Int32Array(e.memory.buffer, 0, 16);
  const epoch = Atomics.add(ctl, EPOCH, 1) + 1;
  Atomics.store(ctl, STOP, 0);
  Atomics.store(ctl, READY, 0);
  const fmaModule = cpuConfig().fma ? fmaModuleSource(e) : null;
  const created: Pool = { workers: [], ports: [], posted: new Set(), fma: fmaModule !== null, broken: false };
  const count = Math.min(threads, MAX_THREADS) - 1;
  try {
    for (let i = 0; i < count; i++) {
      const channel = new threadsModule.MessageChannel();
      const worker = new threadsModule.Worker(WORKER_SOURCE, {
        eval: true,
        // No inherited flags: loaders (tsx), --input-type=module etc. would slow the start
        // or change how the CommonJS source above is read.
        execArgv: [],
        workerData: { module: e.module, fmaModule, memory: e.memory, epoch, port: channel.port2 },
        transferList: [channel.port2],
      });
      worker.on('error', () => { created.broken = true; });
      worker.unref();
      channel.port1.unref();
      created.workers.push(worker);
      created.ports.push(channel.port1);
    }
  } catch {
    for (const w of created.workers) void w.terminate().catch(() => undefined);
    for (const port of created.ports) port.close();
    return null;
  }
  pool = created;
  return pool;
}

/** Number of workers that have started and are waiting for jobs. */
export function readyWorkers(): number {
  const e = engine;
  if (!e || !pool || !e.shared) return 0;
  return Atomics.load(new Int32Array(e.memory.buffer, 0, 16), READY);
}

/**
 * Starts the worker pool (when the settings ask for more than one thread) and waits up to
 * `timeoutMs` for its workers to come up. Returns the number of ready workers.
 */
export function startWorkers(timeoutMs = 5000): number {
  const e = getEngine();
  if (!e) return 0;
  const p = ensurePool(e, cpuConfig().threads);
  if (!p) return 0;
  const ctl = new Int32Array(e.memory.buffer, 0, 16);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = Atomics.load(ctl, READY);
    if (ready >= p.workers.length || p.broken || Date.now() >= deadline) return ready;
    Atomics.wait(ctl, GEN + 15, 0, 5); // a plain 5 ms sleep on an unused slot
  }
}

/** True when the running worker pool can run gemm jobs on the relaxed-SIMD kernels. */
export function poolHasFma(): boolean {
  return pool !== null && !pool.broken && pool.fma;
}

/**
 * A module generated at run time whose `task(t: i32)` export runs task t of a job: it imports
 * the engine's memory as env.mem (shared, maximum MAX_PAGES) and reads everything it needs
 * from there. `id` (>= 1, unique per module) names it to the workers, which instantiate it
 * on first use; `task` is its instance on this thread.
 */
export interface JobModule {
  readonly id: number;
  readonly module: WebAssembly.Module;
  readonly task: (t: number) => void;
}

let nextJobModuleId = 1;

/**
 * How many job modules are kept: cached here (by their bytes) and instantiated in each worker.
 * Beyond it the least recently used one is evicted on both sides: dropped from the cache, and
 * the workers that hold it are told to drop their instance. A plan that still holds an evicted
 * module runs it as before: it comes back into the cache (evicting another) and is posted to
 * the workers again, which instantiate it again.
 */
export const JOB_MODULE_LIMIT = 64;

/** The cached job modules by id, least recently used first: what the workers may hold. */
const cachedJobModules = new Map<number, JobModule>();
/** The same modules by their bytes, so that equal chains share one (a module evicted and made again gets a new id). */
const jobModulesByBytes = new Map<string, JobModule>();
const bytesKeys = new WeakMap<JobModule, string>();

function bytesKey(bytes: Uint8Array): string {
  let key = '';
  for (let i = 0; i < bytes.length; i += 4096) key += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return key;
}

/** Marks `jm` as just used: it moves to the end of the cache, coming back into it (and evicting the least recently used) if it was evicted. */
function useJobModule(jm: JobModule): void {
  if (cachedJobModules.delete(jm.id)) {
    cachedJobModules.set(jm.id, jm);
    return;
  }
  while (cachedJobModules.size >= JOB_MODULE_LIMIT) evictJobModule(cachedJobModules.values().next().value!);
  cachedJobModules.set(jm.id, jm);
  const key = bytesKeys.get(jm);
  if (key !== undefined && !jobModulesByBytes.has(key)) jobModulesByBytes.set(key, jm);
}

function evictJobModule(jm: JobModule): void {
  cachedJobModules.delete(jm.id);
  const key = bytesKeys.get(jm);
  if (key !== undefined && jobModulesByBytes.get(key) === jm) jobModulesByBytes.delete(key);
  if (pool?.posted.delete(jm.id)) {
    for (const port of pool.ports) port.postMessage({ evict: jm.id });
  }
}

/**
 * The JobModule of the bytes of a module as JobModule describes (the cached one for bytes seen
 * before, see JOB_MODULE_LIMIT), or null if it does not instantiate.
 */
export function jobModule(e: Engine, bytes: Uint8Array<ArrayBuffer>): JobModule | null {
  if (!e.shared) return null;
  const key = bytesKey(bytes);
  const known = jobModulesByBytes.get(key);
  if (known !== undefined) {
    useJobModule(known);
    return known;
  }
  let jm: JobModule;
  try {
    const module = new WebAssembly.Module(bytes);
    const task = new WebAssembly.Instance(module, { env: { mem: e.memory } }).exports['task'] as (t: number) => void;
    jm = { id: nextJobModuleId++, module, task };
  } catch {
    return null;
  }
  bytesKeys.set(jm, key);
  useJobModule(jm);
  return jm;
}

/** @internal For tests: job modules cached on this thread (at most JOB_MODULE_LIMIT). */
export function cachedJobModuleCount(): number {
  return cachedJobModules.size;
}

/** @internal For tests: the most job modules one worker thread has held at once, and how many the workers instantiated in all. */
export function workerJobModuleStats(): { readonly peak: number; readonly instances: number } {
  const e = engine;
  if (!e || !e.shared) return { peak: 0, instances: 0 };
  const ctl = new Int32Array(e.memory.buffer, 0, 16);
  return { peak: Atomics.load(ctl, WORKER_JOB_MODULES_PEAK), instances: Atomics.load(ctl, WORKER_JOB_MODULE_INSTANCES) };
}

/** @internal Tasks of job modules that worker threads have run so far (tests check that a job was shared). */
export function workerJobTasks(): number {
  const e = engine;
  if (!e || !e.shared) return 0;
  return Atomics.load(new Int32Array(e.memory.buffer, 0, 16), WORKER_JOB_TASKS);
}

/** The engine's largest memory, in 64 KiB pages (a JobModule's memory import declares it). */
export const ENGINE_MAX_PAGES = MAX_PAGES;

/**
 * Runs tasks [0, count) of the job described at JOB. With `parallel`, the worker pool (started
 * on first use) shares them; otherwise they run here in order. Throws if a task trapped.
 * With `fmaTask` (the relaxed-SIMD kernels' gemm_task, for a gemm job only) every thread runs
 * that instead of the exact `task`; a job is split across workers only when they have it too.
 */
export function runJob(e: Engine, count: number, parallel: boolean, fmaTask: ((t: number) => void) | null = null, job: JobModule | null = null): void {
  // First, so that an eviction it makes is posted to the workers before this module.
  if (job !== null) useJobModule(job);
  const threads = cpuConfig().threads;
  const p = parallel && count > 1 && threads > 1 ? ensurePool(e, threads) : null;
  const task = job?.task ?? fmaTask ?? e.task;
  if (!p || readyWorkers() === 0 || (fmaTask !== null && !p.fma)) {
    for (let t = 0; t < count; t++) task(t);
    return;
  }
  if (job !== null && !p.posted.has(job.id)) {
    for (const port of p.ports) port.postMessage({ id: job.id, module: job.module });
    p.posted.add(job.id);
  }
  const ctl = new Int32Array(e.memory.buffer, 0, 16);
  Atomics.store(ctl, JOB_MODULE, job !== null ? job.id : 0);
  Atomics.store(ctl, USE_FMA, fmaTask !== null ? 1 : 0);
  Atomics.store(ctl, ERROR, 0);
  Atomics.store(ctl, PENDING, count);
  Atomics.store(ctl, CLAIM, count);
  Atomics.add(ctl, GEN, 1);
  Atomics.notify(ctl, GEN);
  let failure: unknown = null;
  for (;;) {
    const left = Atomics.sub(ctl, CLAIM, 1);
    if (left <= 0) break;
    try {
      task(left - 1);
    } catch (error) {
      failure = error;
      // Hand out nothing more; count the unclaimed tasks as done so the wait below ends.
      const rest = Atomics.exchange(ctl, CLAIM, 0);
      if (rest > 0) Atomics.sub(ctl, PENDING, rest);
    }
    Atomics.sub(ctl, PENDING, 1);
  }
  // Wait for the tasks that workers claimed. They are running (a worker claims only when it is
  // awake), so this ends; the timeout only guards against a worker killed from outside.
  let last = Atomics.load(ctl, PENDING);
  let since = Date.now();
  while (last !== 0) {
    Atomics.wait(ctl, PENDING, last, 100);
    const now = Atomics.load(ctl, PENDING);
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since > 60_000) {
      p.broken = true;
      throw new Error('cpu: a worker thread stopped in the middle of a matmul task; worker threads are now off');
    }
  }
  if (failure) throw failure;
  if (Atomics.load(ctl, ERROR) !== 0) throw new Error('cpu: a WebAssembly task failed in a worker thread');
}

export interface CpuInfo {
  /** WebAssembly SIMD kernels load on this host. */
  readonly simd: boolean;
  /** float32 matmuls use them (simd and not turned off). */
  readonly wasm: boolean;
  /** Their memory is shared, so worker threads are possible. */
  readonly sharedMemory: boolean;
  /** Threads a large matmul may use: the setting, or 1 without shared memory. */
  readonly threads: number;
  /** Worker threads started and waiting for work. */
  readonly workersReady: number;
}

/** What the CPU backend's fast paths can use here. */
export function cpuInfo(): CpuInfo {
  const e = getEngine();
  const config = cpuConfig();
  return {
    simd: e !== null,
    wasm: e !== null && config.wasm,
    sharedMemory: e?.shared ?? false,
    threads: e?.shared ? config.threads : 1,
    workersReady: readyWorkers(),
  };
}
