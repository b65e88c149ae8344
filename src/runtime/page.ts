/**
 * The page mlc's browser runtime drives (src/runtime/browser.ts serves it on localhost): it loads
 * onnxruntime-web from the same server, creates sessions from model bytes it fetches, runs feeds
 * and times each run with the page's own clock (`performance.now()` around `session.run`, so the
 * round trip to Node and the tensors' transfer are not counted). Tensors travel as base64.
 *
 * Kept as text: it runs in the browser, not in Node.
 */
export const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>mlc</title></head>
<body><script type="module">import './mlc-page.mjs';</script></body></html>
`;

export const PAGE_SCRIPT = String.raw`
const bundles = { wasm: '/ort/ort.wasm.min.mjs', webgpu: '/ort/ort.webgpu.min.mjs' };
const loaded = {};
const sessions = new Map();
let next = 1;
const CTOR = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
  uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array, int64: BigInt64Array, uint64: BigUint64Array,
  bool: Uint8Array, float16: Uint16Array,
};
function fromB64(s) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(s);
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function toB64(u8) {
  if (u8.toBase64) return u8.toBase64();
  let s = '';
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
}
async function ortFor(ep, threads) {
  if (!loaded[ep]) {
    loaded[ep] = import(bundles[ep]).then((m) => {
      const ort = m.default ?? m;
      ort.env.wasm.numThreads = threads;
      ort.env.wasm.wasmPaths = '/ort/';
      // webgpu: verbose, so that a session created with logSeverityLevel 0 logs its node placements
      ort.env.logLevel = ep === 'webgpu' ? 'verbose' : 'fatal';
      return ort;
    });
  }
  return loaded[ep];
}
function tensorOf(ort, f) {
  if (f.type === 'string') return new ort.Tensor('string', f.strings, f.dims);
  const bytes = fromB64(f.b64);
  const C = CTOR[f.type];
  const data = new C(bytes.buffer, bytes.byteOffset, bytes.byteLength / C.BYTES_PER_ELEMENT);
  return new ort.Tensor(f.type, data, f.dims);
}
function wireOf(t) {
  if (t.type === 'string') return { type: 'string', dims: [...t.dims], strings: [...t.data] };
  const d = t.data;
  return { type: t.type, dims: [...t.dims], b64: toB64(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)) };
}
window.mlc = {
  async probe() {
    if (!navigator.gpu) return { webgpu: false, reason: 'navigator.gpu is missing' };
    let a = null;
    try { a = await navigator.gpu.requestAdapter(); } catch (e) { return { webgpu: false, reason: String(e && e.message || e) }; }
    if (!a) return { webgpu: false, reason: 'no WebGPU adapter' };
    const info = a.info || {};
    return { webgpu: true, adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') };
  },
  async create(id, ep, options, threads) {
    const ort = await ortFor(ep, threads);
    const res = await fetch('/model/' + id);
    if (!res.ok) throw new Error('cannot fetch model ' + id + ': HTTP ' + res.status);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const s = await ort.InferenceSession.create(bytes, { ...options, executionProviders: [ep] });
    const sid = next++;
    sessions.set(sid, { ort, s });
    return { sid, inputNames: s.inputNames, outputNames: s.outputNames };
  },
  async run(sid, feeds, outputNames, wantOutputs) {
    const e = sessions.get(sid);
    if (!e) throw new Error('no session ' + sid);
    const inputs = {};
    for (const [k, f] of Object.entries(feeds)) inputs[k] = tensorOf(e.ort, f);
    const t0 = performance.now();
    const r = outputNames ? await e.s.run(inputs, outputNames) : await e.s.run(inputs);
    const ms = performance.now() - t0;
    const outputs = {};
    if (wantOutputs) for (const [k, t] of Object.entries(r)) outputs[k] = wireOf(t);
    for (const t of Object.values(r)) t.dispose?.();
    return { ms, outputs };
  },
  async release(sid) {
    const e = sessions.get(sid);
    sessions.delete(sid);
    if (e) await e.s.release();
  },
};
window.mlcReady = true;
`;
