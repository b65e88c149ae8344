// The sampled gzip -9 estimate (src/bench/size.ts gzipEstimate) against gzip -9 of the whole file,
// and what the estimate costs, for the sample of today (GZIP_SAMPLE_BLOCKS blocks of
// GZIP_SAMPLE_BLOCK bytes) and the one before (24 blocks of 1 MiB), side by side:
//
//   npm run build && node benchmarks/gzip.bench.mjs [file.onnx …]
//
// Without files it builds a BERT-base-sized encoder (src/models, 12 × 768, seq 128) and writes it
// and its `mlc compress --quantize int8` and `int4` results to a temporary directory. Per file:
// the exact gzip -9 bytes and CPU seconds, then per sample its error against the exact figure,
// the relative standard error it reports, and the CPU seconds its deflates took (thread pool
// included: process CPU time around the call).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const { gzipEstimate, GZIP_SAMPLE_BLOCKS, GZIP_SAMPLE_BLOCK } = await import('../dist/bench/size.js');

let files = process.argv.slice(2);
let dir;
if (!files.length) {
  dir = mkdtempSync(join(tmpdir(), 'mlc-gzip-bench-'));
  const { buildEncoder } = await import('../dist/models/encoder.js');
  const { saveModel } = await import('../dist/onnx/index.js');
  const src = join(dir, 'encoder.onnx');
  await saveModel(buildEncoder({ hidden: 768, heads: 12, ffn: 3072, layers: 12, seq: 128, seed: 1 }), src);
  files = [src];
  for (const q of ['int8', 'int4']) {
    const out = join(dir, `encoder_${q}.onnx`);
    execFileSync(process.execPath, ['bin/mlc.js', 'compress', src, '--quantize', q, '--no-latency', '-o', out], { stdio: 'ignore' });
    files.push(out);
  }
}

const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const samples = [
  { name: `${GZIP_SAMPLE_BLOCKS} × ${GZIP_SAMPLE_BLOCK >> 10} KiB (now)`, blocks: GZIP_SAMPLE_BLOCKS, blockBytes: GZIP_SAMPLE_BLOCK },
  { name: '24 × 1024 KiB (before)', blocks: 24, blockBytes: 1 << 20 },
];
console.log('file | MB | gzip -9 exact (CPU s) | ' + samples.map((s) => `${s.name}: error, ± reported, CPU s`).join(' | '));
for (const f of files) {
  const bytes = readFileSync(f);
  let c = cpu();
  const exact = gzipSync(bytes, { level: 9 }).length;
  const row = [f.split('/').pop(), (bytes.length / 1e6).toFixed(1), `${exact} (${(cpu() - c).toFixed(1)})`];
  for (const s of samples) {
    c = cpu();
    const e = await gzipEstimate(bytes.length, async (o, l) => bytes.subarray(o, o + l), s);
    row.push(`${(100 * (e.gzipBytes / exact - 1)).toFixed(2)} %, ±${(100 * e.sample.relStdErr).toFixed(2)} %, ${(cpu() - c).toFixed(2)}`);
  }
  console.log(row.join(' | '));
}
if (dir) rmSync(dir, { recursive: true, force: true });
