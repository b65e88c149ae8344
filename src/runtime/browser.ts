/**
 * The `browser` and `webgpu` runtimes: onnxruntime-web in headless Chromium, driven by
 * playwright-core. A server on 127.0.0.1 (an ephemeral port, nothing else listens) serves a page
 * (src/runtime/page.ts), onnxruntime-web's files from its installed `dist/` folder, and the model
 * bytes; the page creates sessions, runs the feeds it is sent and times each run with its own
 * clock. Nothing is fetched from the internet.
 *
 * - `browser`: the wasm execution provider, Chromium started with --disable-gpu (what a page
 *   without WebGPU gets). The page also says whether it offers WebGPU (`webgpuSupport()`).
 * - `webgpu`: the webgpu execution provider, Chromium started with WebGPU on (`--enable-unsafe-webgpu`);
 *   on a machine without a GPU Chromium's adapter is SwiftShader, a CPU emulation: its fidelity and
 *   its CPU fallbacks are those of WebGPU, its latency is not a GPU's.
 *
 * Chromium is the system's (Debian's `chromium` package, or the file in $MLC_CHROMIUM), never a
 * downloaded one. playwright-core and onnxruntime-web are optional peer dependencies, imported on
 * first use. One browser per kind serves every open session (the first session launches it, the
 * last release closes it, with its profile folder).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { CTOR, dtypeOfOrt, errorMessage, type Feed, feedArray, type Output, type OutputData, ortTypeOf } from './feeds.js';
import type { Session, SessionOptions } from './index.js';
import { PAGE_HTML, PAGE_SCRIPT } from './page.js';
import { webMessage, webModelBytes } from './web.js';

export type BrowserKind = 'browser' | 'webgpu';

type Playwright = typeof import('playwright-core');
type Context = import('playwright-core').BrowserContext;
type Page = import('playwright-core').Page;

/** Where mlc looks for Chromium when $MLC_CHROMIUM is not set. */
const CHROMIUM_PATHS = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

const BASE_ARGS = ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'];
const KIND_ARGS: Record<BrowserKind, string[]> = {
  browser: ['--disable-gpu'],
  webgpu: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader'],
};

/** The Chromium executable: $MLC_CHROMIUM, or the first of CHROMIUM_PATHS that exists; USAGE when none. */
export function chromiumPath(): string {
  const env = process.env.MLC_CHROMIUM;
  if (env) {
    if (!existsSync(env)) throw new MlcError('USAGE', `MLC_CHROMIUM is ${env}, which does not exist`);
    return env;
  }
  const found = CHROMIUM_PATHS.find((p) => existsSync(p));
  if (!found) throw new MlcError('USAGE', `the browser runtime needs Chromium (apt-get install chromium), or its path in MLC_CHROMIUM; looked in ${CHROMIUM_PATHS.join(', ')}`);
  return found;
}

/** Whether a Chromium is there for the browser runtimes (tests skip without one). */
export function hasChromium(): boolean {
  try {
    chromiumPath();
    return true;
  } catch {
    return false;
  }
}

async function loadPlaywright(): Promise<Playwright> {
  try {
    return await import('playwright-core');
  } catch (err) {
    throw new MlcError('USAGE', 'the browser runtime needs playwright-core, an optional peer dependency: npm install playwright-core', { cause: err });
  }
}

/** onnxruntime-web's dist folder (USAGE when onnxruntime-web is not installed). */
function ortWebDist(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve('onnxruntime-web'));
  } catch (err) {
    throw new MlcError('USAGE', 'the browser runtime needs onnxruntime-web, an optional peer dependency: npm install onnxruntime-web', { cause: err });
  }
}

/** USAGE when playwright-core, onnxruntime-web or Chromium is missing (before any work). */
export async function checkBrowser(): Promise<void> {
  await loadPlaywright();
  ortWebDist();
  chromiumPath();
}

const TYPES: Record<string, string> = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

interface Host {
  page: Page;
  models: Map<string, Uint8Array>;
  probe: { webgpu: boolean; reason?: string; adapter?: string };
  close(): Promise<void>;
}

async function serve(models: Map<string, Uint8Array>): Promise<Server> {
  const dist = ortWebDist();
  const send = (res: ServerResponse, status: number, type: string, body: string | Uint8Array) => {
    // cross-origin isolation: SharedArrayBuffer (threads) and a fine-grained performance.now()
    res.writeHead(status, {
      'content-type': type,
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cache-control': 'no-store',
    });
    res.end(body);
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    if (path === '/') return send(res, 200, TYPES['.html'], PAGE_HTML);
    if (path === '/mlc-page.mjs') return send(res, 200, TYPES['.mjs'], PAGE_SCRIPT);
    if (path.startsWith('/model/')) {
      const bytes = models.get(path.slice('/model/'.length));
      return bytes ? send(res, 200, 'application/octet-stream', bytes) : send(res, 404, 'text/plain', 'no such model');
    }
    if (path.startsWith('/ort/')) {
      const name = basename(path);
      const ext = name.slice(name.lastIndexOf('.'));
      if (name !== path.slice('/ort/'.length) || !TYPES[ext]) return send(res, 404, 'text/plain', 'not found');
      readFile(join(dist, name)).then(
        (b) => send(res, 200, TYPES[ext], b),
        () => send(res, 404, 'text/plain', 'not found'),
      );
      return;
    }
    send(res, 404, 'text/plain', 'not found');
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok());
  });
  return server;
}

/**
 * Start the system's Chromium headless (playwright-core; BASE_ARGS and `args`) with a fresh
 * profile folder, which `close` removes. The browser runtimes and the HTML report's tests and
 * screenshot script (scripts/screenshot.mjs) start it this way.
 */
export async function startChromium(args: readonly string[] = ['--disable-gpu']): Promise<{ context: Context; close(): Promise<void> }> {
  const pw = await loadPlaywright();
  const executablePath = chromiumPath();
  const profile = await mkdtemp(join(tmpdir(), 'mlc-chromium-'));
  let context: Context;
  try {
    context = await pw.chromium.launchPersistentContext(profile, { executablePath, headless: true, args: [...BASE_ARGS, ...args], timeout: 60_000 });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  const close = async () => {
    await context.close().catch(() => {});
    await rm(profile, { recursive: true, force: true });
  };
  return { context, close };
}

async function launch(kind: BrowserKind): Promise<Host> {
  const executablePath = chromiumPath();
  const models = new Map<string, Uint8Array>();
  const server = await serve(models);
  let chromium: Awaited<ReturnType<typeof startChromium>> | undefined;
  const close = async () => {
    await chromium?.close();
    await new Promise<void>((ok) => server.close(() => ok()));
  };
  try {
    chromium = await startChromium(KIND_ARGS[kind]);
    const context = chromium.context;
    const page = context.pages()[0] ?? (await context.newPage());
    const port = (server.address() as AddressInfo).port;
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => (globalThis as { mlcReady?: boolean }).mlcReady === true, undefined, { timeout: 30_000 });
    const probe = await page.evaluate(() => (globalThis as unknown as { mlc: { probe(): Promise<Host['probe']> } }).mlc.probe());
    return { page, models, probe, close };
  } catch (err) {
    await close();
    if (err instanceof MlcError) throw err;
    throw new MlcError('INPUT', `cannot start Chromium (${executablePath}) for the ${kind} runtime: ${errorMessage(err).split('\n')[0]}`, { cause: err });
  }
}

const hosts = new Map<BrowserKind, { host: Promise<Host>; refs: number }>();

async function acquire(kind: BrowserKind): Promise<Host> {
  let e = hosts.get(kind);
  if (!e) {
    e = { host: launch(kind), refs: 0 };
    hosts.set(kind, e);
  }
  e.refs++;
  try {
    return await e.host;
  } catch (err) {
    if (hosts.get(kind) === e) hosts.delete(kind);
    throw err;
  }
}

async function releaseHost(kind: BrowserKind): Promise<void> {
  const e = hosts.get(kind);
  if (!e) return;
  if (--e.refs > 0) return;
  hosts.delete(kind);
  await (await e.host).close();
}

/**
 * Keep the browser of a kind open until the returned function is called (sessions opened and
 * released meanwhile then share one Chromium instead of starting one each).
 */
export async function holdBrowser(kind: BrowserKind): Promise<() => Promise<void>> {
  await acquire(kind);
  let done = false;
  return async () => {
    if (done) return;
    done = true;
    await releaseHost(kind);
  };
}

/**
 * Whether Chromium started for the `webgpu` runtime offers WebGPU, and on what adapter:
 * `software` when the only adapter is SwiftShader (a CPU emulation of a GPU). `reason` says why
 * not. Launches Chromium when no webgpu session is open.
 */
export async function webgpuSupport(): Promise<{ available: boolean; software: boolean; adapter?: string; reason?: string }> {
  const host = await acquire('webgpu');
  try {
    const p = host.probe;
    if (!p.webgpu) return { available: false, software: false, reason: p.reason };
    return { available: true, software: /swiftshader/i.test(p.adapter ?? ''), adapter: p.adapter };
  } finally {
    await releaseHost('webgpu');
  }
}

interface Wire {
  type: string;
  dims: number[];
  b64?: string;
  strings?: string[];
}

function toWire(name: string, f: Feed): Wire {
  const type = ortTypeOf(name, f, 'onnxruntime-web');
  const arr = feedArray(type, f);
  if (type === 'string') return { type, dims: [...f.dims], strings: arr as string[] };
  const v = arr as unknown as ArrayBufferView;
  return { type, dims: [...f.dims], b64: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
}

function fromWire(w: Wire): Output {
  if (w.type === 'string') return { dtype: 'string', dims: w.dims, data: w.strings ?? [] };
  const buf = Buffer.from(w.b64 ?? '', 'base64');
  const C = CTOR[w.type as keyof typeof CTOR] as unknown as { new (b: ArrayBuffer, o: number, n: number): OutputData; BYTES_PER_ELEMENT: number };
  if (!C) throw new MlcError('UNSUPPORTED', `the browser returned a ${w.type} tensor mlc cannot read`);
  const copy = new Uint8Array(buf.length);
  copy.set(buf);
  return { dtype: dtypeOfOrt(w.type), dims: w.dims, data: new C(copy.buffer, 0, copy.length / C.BYTES_PER_ELEMENT) };
}

type PageApi = {
  create(id: string, ep: string, options: object, threads: number): Promise<{ sid: number; inputNames: string[]; outputNames: string[] }>;
  run(sid: number, feeds: Record<string, Wire>, outputNames: string[] | undefined, wantOutputs: boolean): Promise<{ ms: number; outputs: Record<string, Wire> }>;
  release(sid: number): Promise<void>;
};

let modelIds = 0;

class BrowserSession implements Session {
  private released = false;
  constructor(
    private kind: BrowserKind,
    private host: Host,
    private sid: number,
    readonly inputNames: readonly string[],
    readonly outputNames: readonly string[],
  ) {}
  private async call(feeds: Record<string, Feed>, outputNames: string[] | undefined, wantOutputs: boolean) {
    const wire: Record<string, Wire> = {};
    for (const [k, f] of Object.entries(feeds)) wire[k] = toWire(k, f);
    try {
      return await this.host.page.evaluate(
        ([sid, w, names, want]) => (globalThis as unknown as { mlc: PageApi }).mlc.run(sid, w, names ?? undefined, want),
        [this.sid, wire, outputNames ?? null, wantOutputs] as const,
      );
    } catch (e) {
      throw new MlcError('INPUT', `onnxruntime-web (${this.kind}) failed to run the model in Chromium: ${webMessage(pageMessage(e))}`, { cause: e });
    }
  }
  async run(feeds: Record<string, Feed>, outputNames?: string[]): Promise<Record<string, Output>> {
    const r = await this.call(feeds, outputNames, true);
    const out: Record<string, Output> = {};
    for (const [k, w] of Object.entries(r.outputs)) out[k] = fromWire(w);
    return out;
  }
  async time(feeds: Record<string, Feed>): Promise<number> {
    return (await this.call(feeds, undefined, false)).ms;
  }
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await this.host.page.evaluate((sid) => (globalThis as unknown as { mlc: PageApi }).mlc.release(sid), this.sid);
    } finally {
      await releaseHost(this.kind);
    }
  }
}

/** Playwright's evaluate errors carry a call log after the page's message: keep the first line. */
function pageMessage(e: unknown): string {
  return errorMessage(e)
    .replace(/^page\.evaluate: (Error: )?/, '')
    .split('\n')[0];
}

/** A session of onnxruntime-web in headless Chromium: the wasm execution provider (`browser`) or webgpu. */
export async function createBrowserSession(model: Model | Uint8Array, opts: SessionOptions = {}, kind: BrowserKind = 'browser'): Promise<Session> {
  const bytes = webModelBytes(model);
  const host = await acquire(kind);
  const id = String(++modelIds);
  host.models.set(id, bytes);
  const ep = kind === 'webgpu' ? 'webgpu' : 'wasm';
  try {
    if (kind === 'webgpu' && !host.probe.webgpu) throw new MlcError('USAGE', `the webgpu runtime needs WebGPU, which this Chromium does not offer: ${host.probe.reason}`);
    const options: Record<string, unknown> = { graphOptimizationLevel: opts.optimization ?? 'all', executionMode: 'sequential', logSeverityLevel: 4 };
    const names = opts.disabledOptimizers ?? [];
    if (names.length) options.extra = { optimization: { disable_specified_optimizers: names.join(',') } };
    const r = await host.page
      .evaluate(([i, e, o, t]) => (globalThis as unknown as { mlc: PageApi }).mlc.create(i, e, o, t), [id, ep, options, opts.intraOpThreads ?? 1] as const)
      .catch((e: unknown) => {
        throw new MlcError('INPUT', `onnxruntime-web (${kind}) cannot load the model in Chromium: ${webMessage(pageMessage(e))}`, { cause: e });
      });
    return new BrowserSession(kind, host, r.sid, r.inputNames, r.outputNames);
  } catch (err) {
    await releaseHost(kind);
    throw err;
  } finally {
    host.models.delete(id);
  }
}

/** Where onnxruntime-web put a model's nodes, as its session logged it (`webgpuPlacements`). */
export interface Placements {
  /** execution provider name → the nodes placed there (op type and node name; Memcpy nodes left out) */
  byProvider: Record<string, { op: string; name: string }[]>;
  /** MemcpyFromHost / MemcpyToHost nodes onnxruntime added: the CPU↔GPU copies of every run */
  copies: number;
}

/** Parse onnxruntime's verbose "Node placements" block and its MemcpyTransformer lines. */
export function parsePlacements(lines: readonly string[]): Placements {
  const byProvider: Placements['byProvider'] = {};
  let copies = 0;
  let current: string | undefined;
  for (const line of lines) {
    const placed = /Node\(s\) placed on \[(\w+)\]/.exec(line);
    if (placed) {
      current = placed[1];
      byProvider[current] ??= [];
      continue;
    }
    if (/AddCopyNode\] Add Memcpy(From|To)Host/.test(line)) copies++;
    const node = /VerifyEachNodeIsAssignedToAnEp\] {3}(\S+) \((.*)\)\s*$/.exec(line);
    if (node && current) {
      if (!/^Memcpy(From|To)Host$/.test(node[1])) byProvider[current].push({ op: node[1], name: node[2] });
      continue;
    }
  }
  return { byProvider, copies };
}

/**
 * Ask onnxruntime-web's webgpu backend (in Chromium started with WebGPU) where it places each
 * node of each model (one browser for all): the ground truth the op-coverage data of
 * `--target webgpu` is checked against.
 */
export async function webgpuPlacements(models: readonly (Model | Uint8Array)[]): Promise<Placements[]> {
  const host = await acquire('webgpu');
  const lines: string[] = [];
  const listen = (m: { text(): string }) => lines.push(m.text());
  host.page.on('console', listen);
  try {
    if (!host.probe.webgpu) throw new MlcError('USAGE', `webgpu placements need WebGPU, which this Chromium does not offer: ${host.probe.reason}`);
    const out: Placements[] = [];
    for (const model of models) {
      const id = String(++modelIds);
      host.models.set(id, webModelBytes(model));
      lines.length = 0;
      try {
        const r = await host.page
          .evaluate(([i, o]) => (globalThis as unknown as { mlc: PageApi }).mlc.create(i, 'webgpu', o, 1), [id, { logSeverityLevel: 0, logVerbosityLevel: 0 }] as const)
          .catch((e: unknown) => {
            throw new MlcError('INPUT', `onnxruntime-web (webgpu) cannot load the model in Chromium: ${webMessage(pageMessage(e))}`, { cause: e });
          });
        await host.page.evaluate((sid) => (globalThis as unknown as { mlc: PageApi }).mlc.release(sid), r.sid);
      } finally {
        host.models.delete(id);
      }
      out.push(parsePlacements(lines));
    }
    return out;
  } finally {
    host.page.off('console', listen);
    await releaseHost('webgpu');
  }
}
