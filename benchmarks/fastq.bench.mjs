// The fastest quantized models per family (issue 16): mlc against onnxruntime's Python tools at
// their defaults and at their best documented settings, side by side in one run, batch 1,
// 1 intra-op thread, ratios to fp32 from interleaved rounds.
//
//   npm run build && node benchmarks/fastq.bench.mjs [--only cnn|bert|attn] [--rounds 30] [--bert-rounds 8] [--layers 12] [--seq 128] [--profile] [--hf]
//
// CNNs (static int8, 32 calibration images, seeded blocky noise; 64 held-out images):
//   MobileNetV2 (src/models/mobilenet.ts, 224², BatchNorm folded as torch.onnx exports it) and
//   ResNet-18 (src/models/resnet.ts, 224², BatchNorm kept as the dynamo exporter writes it)
//   mlc          mlc compress --quantize int8 --quantize-mode static --calibration-data c.npz
//   mlc -rr      the same with --reduce-range (7-bit weights: exact on CPUs without VNNI)
//   mlc -pt      the same with --no-per-channel (one weight scale per tensor: the gzip size of
//                per-channel weights against per-tensor ones)
//   ort default  quantize_static(QDQ) with its defaults (int8 activations, per-tensor weights)
//   ort best     quant_pre_process, then quantize_static(QDQ, uint8 activations, int8 per-channel
//                weights, MinMax) — onnxruntime's documented recipe for CNNs on x86
// BERT-base-like encoder (src/models/encoder.ts: hidden 768, 12 heads, FFN 3072, 30522-token
// vocabulary, attention mask and token types; 4 sequences of random ids):
//   mlc int4             mlc --quantize int4 (block 32), --int4-compute auto: on this CPU int8 compute
//                        (DynamicQuantizeMatMul over the 4-bit weights, requantized at load) when
//                        the CPU lacks VNNI, else MatMulNBits
//   mlc int4 nbits L4/L0 --int4-compute nbits with --int4-accuracy-level 4 / 0
//   ort int4 default     MatMulNBitsQuantizer(block 128, symmetric) as its docs' example
//   ort int4 L4          the same with accuracy_level 4 and block 32
//   mlc int8 / ort int8  mlc --quantize int8 (dynamic) / quantize_dynamic (defaults)
//   mlc int8 -rr / u8    --reduce-range (7-bit weights) / --quantize uint8 (u8·u8 kernels)
// int8 attention (--only attn; needs onnxruntime's Python package), on the BERT-base-like encoder and,
// with --hf, on transformers' BertModel exported by torch.onnx (benchmarks/real/export.py; needs
// torch and transformers): "× ref" / "CPU ×ref" are ratios to mlc int8 paired round by round
//   mlc int8 QKV fused   mlc's int8 model with the DynamicQuantizeMatMul nodes that read one input
//                        (the Q, K, V projections) as one node over the concatenated weights + Split
//   ort int8 attn        quantize_dynamic with MatMulConstBOnly off: Q·Kᵀ and scores·V as
//                        MatMulInteger on two DynamicQuantizeLinear'd activations
//   ort opt int8         onnxruntime.transformers optimize_model(model_type='bert') (Attention,
//                        SkipLayerNormalization, BiasGelu), then quantize_dynamic: Attention → QAttention
//   ort opt int8 attn    the same with attention fusion off and the attention matmuls quantized
// --profile: where the time goes, per op type, in the graph onnxruntime optimized (fp32, mlc int8,
// mlc int4), from onnxruntime's profiler (src/runtime/profile.ts).
// "load ms" is the session creation (the int8-compute int4 model's weights are unpacked there).
// Per model: p50 latency and ratio to fp32 (wall; "CPU ×": the ratio of the process's CPU time per
// run, steadier on a loaded machine), cosine with fp32 (mean over samples; CNNs also top-1
// agreement), file and gzip -9 size, and the QuantizeLinear / DequantizeLinear nodes left after
// onnxruntime's optimizer (read back from optimizedModelFilePath). The onnxruntime rows are skipped
// when python3 cannot import onnxruntime.quantization. Ratios depend on the CPU: int8 and int4
// kernels gain most on CPUs with VNNI / AVX-512; see the README's figures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = new URL('../dist/', import.meta.url);
const imp = (p) => import(new URL(p, dist).href);
const { blockyImages, buildMobileNetV2 } = await imp('models/mobilenet.js');
const { buildResNet } = await imp('models/resnet.js');
const { buildEncoder, encoderInputs } = await imp('models/encoder.js');
const { saveModel, loadModel } = await imp('onnx/index.js');
const { writeNpz } = await imp('data/index.js');
const { createSession } = await imp('runtime/index.js');
const { int8Saturates } = await imp('runtime/cpu.js');
const { cosine } = await imp('math/stats.js');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const only = opt('--only', 'all');
const rounds = Number(opt('--rounds', process.env.ROUNDS ?? 30));
const bertRounds = Number(opt('--bert-rounds', 8));
const layers = Number(opt('--layers', 12));
const seq = Number(opt('--seq', 128));
const profile = args.includes('--profile');
const mlcBin = new URL('../bin/mlc.js', import.meta.url).pathname;
const { profileNodes } = await imp('runtime/profile.js');

const py = spawnSync('python3', ['-c', 'import onnxruntime, onnxruntime.quantization; print(onnxruntime.__version__)'], {
  encoding: 'utf8',
});
const ortVersion = py.status === 0 ? py.stdout.trim() : undefined;
console.log(
  `CPU int8 kernels saturate (x86 without VNNI): ${int8Saturates()}; onnxruntime Python: ${ortVersion ?? 'not found (its rows are skipped)'}`,
);

const dir = mkdtempSync(join(tmpdir(), 'mlc-fastq-bench-'));
const pyScript = join(dir, 'ort_quant.py');
writeFileSync(
  pyScript,
  `import sys, numpy as np, onnx
from onnxruntime.quantization import quantize_static, quantize_dynamic, CalibrationDataReader, QuantFormat, QuantType, CalibrationMethod
kind, src, out = sys.argv[1], sys.argv[2], sys.argv[3]
class Reader(CalibrationDataReader):
    def __init__(self, path):
        self.x = np.load(path)['input']
        self.i = 0
    def get_next(self):
        if self.i >= len(self.x):
            return None
        self.i += 1
        return {'input': self.x[self.i - 1:self.i]}
if kind == 'static-default':
    quantize_static(src, out, Reader(sys.argv[4]))
elif kind == 'static-best':
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre = out + '.pre.onnx'
    quant_pre_process(src, pre)
    quantize_static(pre, out, Reader(sys.argv[4]), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True, calibrate_method=CalibrationMethod.MinMax)
elif kind == 'dynamic':
    quantize_dynamic(src, out)
elif kind == 'dynamic-attn':
    # the attention matmuls too (MatMulInteger on two DynamicQuantizeLinear'd activations)
    quantize_dynamic(src, out, extra_options={'MatMulConstBOnly': False})
elif kind in ('opt-dynamic', 'opt-dynamic-attn'):
    # onnxruntime's transformer optimizer (Attention, SkipLayerNormalization, BiasGelu, ...), then
    # quantize_dynamic: Attention -> QAttention. The -attn form leaves attention unfused and
    # quantizes its matmuls instead (MatMulConstBOnly off).
    from onnx import helper, numpy_helper
    from onnxruntime.transformers.optimizer import optimize_model
    from onnxruntime.transformers.fusion_options import FusionOptions
    m = onnx.load(src)
    # onnxruntime's attention fusion reads the mask only as Unsqueeze(Unsqueeze(mask)), the classic
    # exporter's form of mask[:, None, None, :]; src/models writes one Unsqueeze(axes [1, 2]). Split
    # it (the same graph) so that the fusion is not lost on a form detail.
    inits = {i.name: i for i in m.graph.initializer}
    for n in list(m.graph.node):
        axes = numpy_helper.to_array(inits[n.input[1]]).tolist() if n.op_type == 'Unsqueeze' and len(n.input) == 2 and n.input[1] in inits else None
        if axes == [1, 2] and n.input[0] in [i.name for i in m.graph.input]:
            mid = n.output[0] + '_1'
            m.graph.initializer.extend([numpy_helper.from_array(np.array([1], np.int64), mid + '_a1'), numpy_helper.from_array(np.array([2], np.int64), mid + '_a2')])
            i = list(m.graph.node).index(n)
            m.graph.node.remove(n)
            m.graph.node.insert(i, helper.make_node('Unsqueeze', [mid, mid + '_a2'], [n.output[0]], name=n.name + '_2'))
            m.graph.node.insert(i, helper.make_node('Unsqueeze', [n.input[0], mid + '_a1'], [mid], name=n.name + '_1'))
    split = out + '.split.onnx'
    onnx.save(m, split)
    fo = FusionOptions('bert')
    attn = kind == 'opt-dynamic-attn'
    if attn:
        fo.enable_attention = False
    heads, hidden = int(sys.argv[4]), int(sys.argv[5])
    opt = optimize_model(split, model_type='bert', num_heads=heads, hidden_size=hidden, optimization_options=fo, opt_level=0)
    pre = out + '.pre.onnx'
    opt.save_model_to_file(pre)
    print('fused:', ' '.join(f'{k} {v}' for k, v in opt.get_fused_operator_statistics().items() if v) or 'nothing')
    # DefaultTensorType: the optimizer's contrib ops leave some types unknown to shape inference
    quantize_dynamic(pre, out, extra_options={'MatMulConstBOnly': not attn, 'DefaultTensorType': onnx.TensorProto.FLOAT})
    import os
    os.remove(split)
    os.remove(pre)
elif kind == 'fuse-qkv':
    # an experiment on mlc's int8 model: the DynamicQuantizeMatMul nodes that read one input (the Q,
    # K and V projections) as one node over the concatenated weights, then Split
    import collections
    from onnx import helper, numpy_helper
    m = onnx.load(src)
    g = m.graph
    inits = {i.name: i for i in g.initializer}
    groups = collections.defaultdict(list)
    for n in g.node:
        if n.op_type == 'DynamicQuantizeMatMul' and len(n.input) == 5 and n.input[3] == '' and all(x in inits for x in n.input[1:3]):
            groups[n.input[0]].append(n)
    fused = 0
    for a, ns in groups.items():
        if len(ns) < 2:
            continue
        arr = lambda n, i: numpy_helper.to_array(inits[n.input[i]])
        p = f'fused_qkv_{fused}'
        fused += 1
        g.initializer.extend([numpy_helper.from_array(np.concatenate([arr(n, 1) for n in ns], 1), p + '_w'),
                              numpy_helper.from_array(np.concatenate([np.broadcast_to(arr(n, 2), (arr(n, 1).shape[1],)) for n in ns]).astype(np.float32), p + '_s'),
                              numpy_helper.from_array(np.concatenate([arr(n, 4) for n in ns]), p + '_b'),
                              numpy_helper.from_array(np.array([arr(n, 1).shape[1] for n in ns], np.int64), p + '_split')])
        i = list(g.node).index(ns[0])
        for n in ns:
            g.node.remove(n)
        g.node.insert(i, helper.make_node('Split', [p + '_y', p + '_split'], [n.output[0] for n in ns], axis=-1, name=p + '_Split'))
        g.node.insert(i, helper.make_node('DynamicQuantizeMatMul', [a, p + '_w', p + '_s', '', p + '_b'], [p + '_y'], domain='com.microsoft', name=p))
    used = {x for n in g.node for x in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    print(f'fused {fused} groups')
    onnx.save(m, out)
else:
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    level = int(sys.argv[4])
    q = MatMulNBitsQuantizer(onnx.load(src), block_size=int(sys.argv[5]), is_symmetric=True, accuracy_level=level if level else None)
    q.process()
    q.model.save_model_to_file(out, use_external_data_format=False)
`,
);

function run(cmd, argv) {
  const p = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (p.status !== 0) throw new Error(`${cmd} ${argv.slice(0, 3).join(' ')} failed (exit ${p.status}): ${(p.stderr || '').slice(-800)}`);
  return p.stdout.trim();
}
const mlc = (...a) => run(process.execPath, [mlcBin, 'compress', ...a, '--no-latency', '--force', '--quiet']);
const ort = (...a) => run('python3', [pyScript, ...a]);

const images = blockyImages;

const p50 = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const argmax = (v) => v.reduce((bi, x, i, a) => (x > a[bi] ? i : bi), 0);

/** Q / DQ nodes onnxruntime leaves in the model after its optimizer (all levels, 1 thread). */
async function qdqLeft(path) {
  const optPath = `${path}.opt.onnx`;
  const s = await createSession(path, { intraOpThreads: 1, optimizedModelFilePath: optPath });
  await s.release();
  const m = await loadModel(optPath);
  rmSync(optPath, { force: true });
  const q = m.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').length;
  const dq = m.graph.nodes.filter((n) => n.opType === 'DequantizeLinear').length;
  return `${q}/${dq}`;
}

/** Per op type: ms per run and share of the run, in the graph onnxruntime optimized (1 thread). */
async function profileOps(label, path, feed) {
  const p = await profileNodes(await loadModel(path), feed, 3, { optimization: 'all' });
  const top = [...p.ops].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(
    `  ${label.padEnd(20)} ${(p.totalUs / 1000).toFixed(1).padStart(7)} ms: ${top.map(([o, us]) => `${o} ${((100 * us) / p.totalUs).toFixed(1)}%`).join(', ')}`,
  );
}

/**
 * Latency (interleaved rounds, p50), cosine with fp32 over the samples (top-1 agreement too when
 * `classify`), file and gzip size, Q/DQ left after onnxruntime's optimizer. models[0] is fp32.
 */
async function compare(title, models, samples, classify, rounds, ref) {
  const sessions = {};
  const loadMs = {};
  for (const [k, p] of Object.entries(models)) {
    const t0 = performance.now();
    sessions[k] = await createSession(p, { intraOpThreads: 1 });
    loadMs[k] = performance.now() - t0;
  }
  const names = Object.keys(models);
  // each model gets the inputs it has (onnxruntime's optimizer may drop an unused one)
  const feedOf = (k, feed) => Object.fromEntries(Object.entries(feed).filter(([n]) => sessions[k].inputNames.includes(n)));
  const outs = Object.fromEntries(names.map((k) => [k, []]));
  for (const feed of samples) for (const k of names) outs[k].push(Object.values(await sessions[k].run(feedOf(k, feed)))[0].data);
  const lat = Object.fromEntries(names.map((k) => [k, []]));
  // the process's CPU time (user + system) per run too: on a loaded machine it leaves out the time
  // the run waited for a core
  const cpu = Object.fromEntries(names.map((k) => [k, []]));
  const warm = 2;
  for (let r = 0; r < rounds + warm; r++) {
    const order = r % 2 ? [...names].reverse() : names;
    for (const k of order) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await sessions[k].run(feedOf(k, samples[r % samples.length]));
      const c = process.cpuUsage(c0);
      if (r >= warm) {
        lat[k].push(performance.now() - t0);
        cpu[k].push((c.user + c.system) / 1000);
      }
    }
  }
  for (const s of Object.values(sessions)) await s.release();
  const base = p50(lat[names[0]]);
  const cpuBase = p50(cpu[names[0]]);
  // paired: the median over rounds of (this model's time / the reference's time in the same round)
  const paired = (k, t) =>
    p50(t[k].map((x, r) => x / t[ref][r]))
      .toFixed(3)
      .padStart(7);
  console.log(
    `\n${title} (batch 1, 1 intra-op thread, ${rounds} interleaved rounds, ${samples.length} samples, load average ${loadavg()[0].toFixed(1)})`,
  );
  console.log(
    `  ${'model'.padEnd(20)} ${'p50 ms'.padStart(8)} ${'× fp32'.padStart(7)} ${'CPU ×'.padStart(7)}${ref ? ` ${'× ref'.padStart(7)} ${'CPU ×ref'.padStart(8)}` : ''} ${'cosine'.padStart(8)}${classify ? ' top-1 agr' : ''} ${'file MB'.padStart(8)} ${'gzip MB'.padStart(8)} ${'load ms'.padStart(8)}  Q/DQ left`,
  );
  for (const k of names) {
    let cos = 0;
    let agree = 0;
    for (let s = 0; s < samples.length; s++) {
      cos += cosine(outs[k][s], outs[names[0]][s]);
      agree += argmax(outs[k][s]) === argmax(outs[names[0]][s]) ? 1 : 0;
    }
    const bytes = readFileSync(models[k]);
    const gz = bytes.length < 100e6 ? (gzipSync(bytes, { level: 9 }).length / 1e6).toFixed(2) : '-';
    const left = k === names[0] ? '-' : await qdqLeft(models[k]);
    const vsRef = ref ? ` ${paired(k, lat)} ${paired(k, cpu).padStart(8)}` : '';
    const row = `  ${k.padEnd(20)} ${p50(lat[k]).toFixed(1).padStart(8)} ${(p50(lat[k]) / base).toFixed(3).padStart(7)} ${(p50(cpu[k]) / cpuBase).toFixed(3).padStart(7)}${vsRef} ${(cos / samples.length).toFixed(5).padStart(8)}`;
    console.log(
      `${row}${classify ? `${((100 * agree) / samples.length).toFixed(1).padStart(9)}%` : ''} ${(statSync(models[k]).size / 1e6).toFixed(2).padStart(8)} ${gz.padStart(8)} ${loadMs[k].toFixed(0).padStart(8)}  ${left}`,
    );
  }
}

try {
  if (only === 'all' || only === 'cnn') {
    const res = 224;
    const cal = join(dir, 'cal.npz');
    await writeNpz(cal, { input: { dtype: 'float', dims: [32, 3, res, res], data: images(32, res, 1) } });
    const held = images(64, res, 2);
    const per = 3 * res * res;
    const samples = Array.from({ length: 64 }, (_, s) => ({
      input: { dtype: 'float', dims: [1, 3, res, res], data: held.subarray(s * per, (s + 1) * per) },
    }));
    const cnns = {
      'MobileNetV2 (BN folded)': buildMobileNetV2({ resolution: res, dynamicBatch: true }),
      'ResNet-18 (BN kept)': buildResNet({ image: res }),
    };
    for (const [title, model] of Object.entries(cnns)) {
      const f = join(dir, 'cnn.onnx');
      await saveModel(model, f);
      const m = { fp32: f, mlc: join(dir, 'cnn_mlc.onnx'), 'mlc -rr': join(dir, 'cnn_mlc_rr.onnx') };
      const st = ['--quantize', 'int8', '--quantize-mode', 'static', '--calibration-data', cal];
      mlc(f, '-o', m.mlc, ...st);
      mlc(f, '-o', m['mlc -rr'], ...st, '--reduce-range');
      m['mlc -pt'] = join(dir, 'cnn_mlc_pt.onnx');
      mlc(f, '-o', m['mlc -pt'], ...st, '--no-per-channel');
      if (ortVersion) {
        m['ort default'] = join(dir, 'cnn_ort_default.onnx');
        m['ort best'] = join(dir, 'cnn_ort_best.onnx');
        ort('static-default', f, m['ort default'], cal);
        ort('static-best', f, m['ort best'], cal);
      }
      await compare(`${title}, static int8`, m, samples, true, rounds);
    }
  }
  const bertOpts = { hidden: 768, heads: 12, ffn: 3072, layers, seq, vocab: 30522, attentionMask: true, tokenTypes: 2 };
  const ins = encoderInputs(bertOpts, 4, 3);
  // 4 sequences of random ids (mask: a random-length prefix); each model reads the inputs it has
  const bertSamples = Array.from({ length: 4 }, (_, s) =>
    Object.fromEntries(
      Object.entries(ins).map(([k, v]) => [k, { dtype: 'int64', dims: [1, seq], data: v.data.subarray(s * seq, (s + 1) * seq) }]),
    ),
  );
  const bertFile = join(dir, 'bert.onnx');
  if (only !== 'cnn') await saveModel(buildEncoder(bertOpts), bertFile);
  if (only === 'all' || only === 'bert') {
    const f = bertFile;
    const samples = bertSamples;
    const m = {
      fp32: f,
      'mlc int4': join(dir, 'b_q4.onnx'),
      'mlc int4 nbits L4': join(dir, 'b_q4_l4.onnx'),
      'mlc int4 nbits L0': join(dir, 'b_q4_l0.onnx'),
      'mlc int8': join(dir, 'b_int8.onnx'),
      'mlc int8 -rr': join(dir, 'b_int8_rr.onnx'),
      'mlc uint8': join(dir, 'b_uint8.onnx'),
    };
    console.log(
      `mlc int4 --int4-compute auto on this CPU: ${int8Saturates() ? 'int8 (DynamicQuantizeMatMul)' : 'nbits (MatMulNBits, level 4)'}`,
    );
    mlc(f, '-o', m['mlc int4'], '--quantize', 'int4', '--int4-compute', 'auto');
    mlc(f, '-o', m['mlc int4 nbits L4'], '--quantize', 'int4', '--int4-compute', 'nbits', '--int4-accuracy-level', '4');
    mlc(f, '-o', m['mlc int4 nbits L0'], '--quantize', 'int4', '--int4-compute', 'nbits', '--int4-accuracy-level', '0');
    mlc(f, '-o', m['mlc int8'], '--quantize', 'int8');
    mlc(f, '-o', m['mlc int8 -rr'], '--quantize', 'int8', '--reduce-range');
    mlc(f, '-o', m['mlc uint8'], '--quantize', 'uint8');
    if (ortVersion) {
      m['ort int4 default'] = join(dir, 'b_ort_q4.onnx');
      m['ort int4 L4'] = join(dir, 'b_ort_q4_l4.onnx');
      m['ort int8'] = join(dir, 'b_ort_int8.onnx');
      ort('int4', f, m['ort int4 default'], '0', '128');
      ort('int4', f, m['ort int4 L4'], '4', '32');
      ort('dynamic', f, m['ort int8']);
    }
    await compare(`BERT-base-like encoder (${layers} layers, sequence ${seq})`, m, samples, false, bertRounds);
    if (profile) {
      console.log('\nwhere the time goes (onnxruntime profiler, optimized graph, 1 thread, op types by share):');
      for (const k of ['fp32', 'mlc int8', 'mlc int4', 'mlc int4 nbits L4', 'ort int8']) if (m[k]) await profileOps(k, m[k], samples[0]);
    }
  }
  if ((only === 'all' || only === 'attn') && ortVersion) {
    // int8 attention: onnxruntime's transformer optimizer + quantize_dynamic (QAttention, fused
    // SkipLayerNormalization / BiasGelu), the attention matmuls quantized (Q·Kᵀ and scores·V as
    // MatMulInteger on two DynamicQuantizeLinear'd activations), and mlc's int8 model with the Q, K,
    // V projections as one DynamicQuantizeMatMul, against mlc int8 (the "× ref" columns: paired)
    const targets = [[`BERT-base-like encoder, src/models (${layers} layers, sequence ${seq})`, bertFile, 'b']];
    if (args.includes('--hf')) {
      // transformers' BertModel (4 layers, hidden 768, random weights) through torch.onnx; the
      // classic exporter fails on transformers 5, the dynamo one is kept when it works
      const exp = spawnSync('python3', [new URL('real/export.py', import.meta.url).pathname, dir, 'bert'], { encoding: 'utf8' });
      for (const kind of ['classic', 'dynamo']) {
        const p = join(dir, `bert_${kind}.onnx`);
        if (exp.stdout?.includes(`ok ${p}`))
          targets.push([`BERT-base (transformers, torch.onnx ${kind}, 4 layers, sequence ${seq})`, p, `hf_${kind}`]);
        else
          console.log(
            `transformers BERT (${kind} export) not available: ${(exp.stdout || exp.stderr || '').split('\n').find((l) => l.includes(kind)) ?? 'export failed'}`,
          );
      }
    }
    for (const [title, f, tag] of targets) {
      const at = (s) => join(dir, `${tag}_${s}.onnx`);
      const m = { fp32: f, 'mlc int8': at('mlc8'), 'mlc int8 QKV fused': at('mlc8_qkv'), 'ort int8': at('ort8') };
      mlc(f, '-o', m['mlc int8'], '--quantize', 'int8');
      console.log(`\n${title}: mlc int8 with Q/K/V fused: ${ort('fuse-qkv', m['mlc int8'], m['mlc int8 QKV fused'])}`);
      ort('dynamic', f, m['ort int8']);
      m['ort int8 attn'] = at('ort8_attn');
      ort('dynamic-attn', f, m['ort int8 attn']);
      m['ort opt int8'] = at('ort_opt8');
      const fusedLine = ort('opt-dynamic', f, m['ort opt int8'], '12', '768')
        .split('\n')
        .find((l) => l.startsWith('fused:'));
      console.log(`  onnxruntime's optimizer ${fusedLine ?? 'fused: (not reported)'}`);
      m['ort opt int8 attn'] = at('ort_opt8_attn');
      ort('opt-dynamic-attn', f, m['ort opt int8 attn'], '12', '768');
      await compare(title, m, bertSamples, false, bertRounds, 'mlc int8');
      if (profile) {
        console.log('where the time goes (onnxruntime profiler, optimized graph, 1 thread, op types by share):');
        for (const k of ['mlc int8', 'mlc int8 QKV fused', 'ort opt int8', 'ort opt int8 attn']) {
          const names = (await loadModel(m[k])).graph.inputs.map((i) => i.name);
          await profileOps(k, m[k], Object.fromEntries(Object.entries(bertSamples[0]).filter(([n]) => names.includes(n))));
        }
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
