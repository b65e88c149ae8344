/**
 * `mlc variants <model.onnx> --out-dir onnx/ [--dtypes fp32,fp16,q8,int8,uint8,q4,q4f16]`: every
 * transformers.js variant of a model under the file name transformers.js loads for its dtype
 * (src/passes/variants.ts), the model loaded once, then one table: each file's size, gzip and
 * brotli size, latency in each `--runtime`, and fidelity against fp32 (cosine, on `--data` or on
 * made-up inputs).
 *
 * Exit 2 (nothing written) for bad flags, an unreadable model or data, or a model onnxruntime
 * cannot load. Each variant is written atomically; tensors go to `<file>_data` (the name
 * transformers.js looks for) with --external-data or when a variant is over protobuf's 2 GB limit.
 */
import { Option, type Command } from 'commander';
import { mkdir } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { MlcError } from '../core/errors.js';
import type { Dataset } from '../core/types.js';
import type { Model } from '../ir/model.js';
import { formatBytes, formatMs } from '../bench/format.js';
import type { RuntimeResult } from '../bench/types.js';
import { parseVariantDtypes, Q4_TARGET, Q8_TARGET, VARIANT_DTYPES, VARIANT_SUFFIX, type VariantDtype, variantSteps } from '../passes/variants.js';
import { parseRuntimes, type RuntimeName } from '../runtime/runtimes.js';
import { table } from './format.js';
import { collect, positiveInt } from './measure.js';
import { boundary, loadInput, namingFile } from './run.js';

export interface VariantRow {
  dtype: VariantDtype;
  file: string;
  /** the model file and its external data file, if any */
  files: string[];
  sizeBytes: number;
  gzipBytes: number;
  brotliBytes: number;
  brotliQuality: number;
  /** per runtime: latency (batch 1) and fidelity against fp32 in the same runtime */
  runtimes: { runtime: string; latencyMs: number | null; speedup: number | null; cosine: number | null; maxAbsError: number | null; notMeasured: string | null }[];
}


/** `--q4-target` / `--q8-target`: the cosine, the default when not given, null for `--no-…`. */
function targetFlag(flag: unknown, name: string, dflt: number): number | null {
  const t = flag === false ? null : flag === undefined || flag === true ? dflt : Number(flag);
  if (t !== null && !(t > 0 && t <= 1)) throw new MlcError('USAGE', `--${name}-target: expected a cosine in (0, 1], got ${JSON.stringify(flag)}`);
  return t;
}

/**
 * Made-up fidelity data when no --data is given: 8 seeded samples shaped as the measurement shapes
 * them (`madeUpData` of src/bench/inputs.ts, which the int4 target's probe uses too).
 */
async function madeUpFidelityData(model: Model, shapes: Record<string, number[]>): Promise<Dataset> {
  const { madeUpData } = await import('../bench/inputs.js');
  const { createSession } = await import('../runtime/index.js');
  const session = await createSession(model);
  try {
    return (await madeUpData(model, shapes, (feeds) => session.run(feeds as Parameters<typeof session.run>[0]))).data;
  } finally {
    await session.release();
  }
}

export function registerVariants(program: Command): Command {
  const cmd = program
    .command('variants')
    .description("write a model's transformers.js variants (model.onnx, model_fp16.onnx, model_quantized.onnx, …) and compare their size, latency and fidelity")
    .argument('<model>', 'ONNX model file (fp32)')
    .requiredOption('--out-dir <dir>', 'folder for the variants (created if missing), e.g. onnx/')
    .option('--dtypes <list>', `comma list of ${VARIANT_DTYPES.join(', ')} (default all)`)
    .addOption(new Option('--runtime <list>', 'runtimes to measure latency and fidelity in, comma list: node, wasm, browser, webgpu (default node)').argParser(parseRuntimes))
    .option('--data <file>', 'inputs for the fidelity check (.npz / .npy / test_data_set folder); default 8 made-up samples')
    .option('--shape <name=dims>', 'shape of an input with dynamic dimensions (repeatable)', collect)
    .addOption(new Option('--threads <n>', 'intra-op threads for timing (default 1)').argParser(positiveInt('threads')))
    .addOption(new Option('--runs <n>', 'timed runs per model (default: at least 50 and 2 s, time-boxed)').argParser(positiveInt('runs')))
    .addOption(new Option('--warmup <n>', 'warm-up runs per model (default 10)').argParser(positiveInt('warmup')))
    .option('--q4-target <cosine>', `q4 / q4f16: keep at 8 bits the MatMuls whose 4-bit error costs the most on the fidelity data until its cosine to fp32 reaches this (default ${Q4_TARGET}); --no-q4-target: every MatMul at 4 bits`)
    .option('--no-q4-target', 'q4 / q4f16 with every MatMul at 4 bits')
    .option('--q8-target <cosine>', `q8 / int8 / uint8: leave float the MatMuls whose 8-bit weights and activations cost the most on the fidelity data until its cosine to fp32 reaches this (default ${Q8_TARGET}); --no-q8-target: every MatMul 8-bit, as transformers.js's conversion writes them`)
    .option('--no-q8-target', 'q8 / int8 / uint8 with every MatMul 8-bit')
    .option('--reduce-range', 'q8 / int8 / uint8 with 7-bit weights (transformers.js\'s conversion leaves it off; the default pair-safe 8-bit weights are already exact on x86 CPUs without VNNI)')
    .option('--no-latency', 'sizes and fidelity only')
    .option('--external-data', 'store every variant\'s tensors in <file>_data')
    .option('--force', 'allow overwriting the input file')
    .option('--json', 'print one JSON document on stdout');
  cmd.action((file: string, _opts: unknown, self: Command) =>
    boundary(self, async (ui, flags) => {
      const dtypes = typeof flags.dtypes === 'string' ? parseVariantDtypes(flags.dtypes) : [...VARIANT_DTYPES];
      const q4Target = targetFlag(flags.q4Target, 'q4', Q4_TARGET);
      const q8Target = targetFlag(flags.q8Target, 'q8', Q8_TARGET);
      if (typeof dtypes === 'string') throw new MlcError('USAGE', `--dtypes: ${dtypes}`);
      const runtimes = (flags.runtime as RuntimeName[] | undefined) ?? ['node'];
      const { parseShapeFlags } = await import('../bench/inputs.js');
      const shapes = parseShapeFlags(flags.shape as string[] | undefined);
      const outDir = flags.outDir as string;
      if (runtimes.some((r) => r !== 'node')) await (await import('../runtime/runtimes.js')).checkRuntimes(runtimes);

      // everything is read and checked before the first write: the model (once), the data
      const original = await loadInput(file, ui);
      const { checkModelLoads } = await import('../runtime/index.js');
      try {
        await checkModelLoads(file);
      } catch (err) {
        throw namingFile(err, file);
      }
      let data: Dataset;
      if (typeof flags.data === 'string') {
        const { loadDataset } = await import('../data/index.js');
        try {
          data = await loadDataset(flags.data, original, { warn: (m) => ui.warn(m) });
        } catch (err) {
          throw namingFile(err, flags.data);
        }
      } else data = await madeUpFidelityData(original, shapes);
      try {
        await mkdir(outDir, { recursive: true });
      } catch (err) {
        throw new MlcError('OUTPUT', `cannot create --out-dir ${outDir}: ${(err as Error).message}`);
      }

      const { compress } = await import('../index.js');
      const { saveModel } = await import('../onnx/index.js');
      const ext = extname(file);
      const base = basename(file, ext.toLowerCase() === '.onnx' ? ext : '');
      const hasConv = original.graph.nodes.some((n) => n.opType === 'Conv');
      const written: { dtype: VariantDtype; path: string; files: string[]; model: Model }[] = [];
      for (const dtype of dtypes) {
        const path = join(outDir, `${base}${VARIANT_SUFFIX[dtype]}.onnx`);
        ui.progress(`${dtype}: ${path}`);
        let steps = variantSteps(dtype, hasConv, q4Target, !!flags.reduceRange, q8Target);
        // q4f16 is q4 then fp16: from the q4 model when it was just made (its probe runs once)
        const q4 = dtype === 'q4f16' ? written.find((w) => w.dtype === 'q4') : undefined;
        if (q4) steps = steps.slice(1);
        // the input was checked once above; each result is checked after its passes
        const model = steps.length
          ? (
              await compress(q4?.model ?? original, steps, {
                check: async (m) => {
                  if (m !== original && m !== q4?.model) await checkModelLoads(m);
                },
                log: ui.logger(),
                // q4's probe (int4Target) measures on the fidelity data
                calibration: data,
              })
            ).model
          : original;
        const saved = await saveModel(model, path, { externalData: !!flags.externalData, externalDataPath: `${path}_data`, inputPath: file, force: !!flags.force });
        written.push({ dtype, path, files: [path, ...(saved.externalDataFile ? [saved.externalDataFile] : [])], model });
        ui.debug(`${dtype}: wrote ${path} (${formatBytes(saved.bytes)})`);
      }

      // sizes, then latency and fidelity against fp32 in each runtime (the browsers stay open throughout)
      const { filesSize, brotliFilesSize } = await import('../bench/size.js');
      const { measureRuntimes } = await import('../bench/index.js');
      const { holdRuntimes } = await import('../runtime/runtimes.js');
      const release = await holdRuntimes(runtimes);
      const rows: VariantRow[] = [];
      const fp32Path = written.find((w) => w.dtype === 'fp32')?.path;
      try {
        for (const w of written) {
          ui.progress(`measuring ${w.dtype}`);
          const size = await filesSize(w.files, { exact: true });
          const br = await brotliFilesSize(w.files);
          const m = await measureRuntimes({ model: original, path: fp32Path ?? file }, { model: w.model, path: w.path }, runtimes, {
            data,
            threads: flags.threads as number | undefined,
            runs: flags.runs as number | undefined,
            warmup: flags.warmup as number | undefined,
            shapes,
            latency: flags.latency !== false,
            bestEffort: true,
            batchSize: 8,
          });
          for (const warning of m.warnings) ui.warn(`${w.dtype}: ${warning}`);
          const per: RuntimeResult[] =
            m.runtimes ??
            [{ runtime: runtimes[0], before: m.before, after: m.after, speedup: m.speedup, batchSize: m.settings.batchSize, notMeasured: m.settings.notMeasured ?? null }];
          rows.push({
            dtype: w.dtype,
            file: w.path,
            files: w.files,
            sizeBytes: size.sizeBytes,
            gzipBytes: size.gzipBytes,
            brotliBytes: br.bytes,
            brotliQuality: br.quality,
            runtimes: per
              .filter((x) => runtimes.includes(x.runtime as RuntimeName))
              .map((x) => ({
                runtime: x.runtime,
                latencyMs: x.after?.latencyMs?.p50 ?? null,
                speedup: x.speedup,
                cosine: x.after?.cosine ?? null,
                maxAbsError: x.after?.maxAbsError ?? null,
                notMeasured: x.notMeasured,
              })),
          });
        }
      } finally {
        await release();
      }
      ui.clearProgress();
      if (ui.json) {
        ui.printJson({ input: file, outDir, samples: data.count, runtimes, variants: rows });
        return 0;
      }
      const head = ['dtype', 'file', 'size', 'gzip', 'brotli', ...runtimes.map((r) => `${r} p50`), ...runtimes.map((r) => `cosine ${r}`)];
      const body = rows.map((r) => [
        r.dtype,
        basename(r.file),
        formatBytes(r.sizeBytes),
        formatBytes(r.gzipBytes),
        formatBytes(r.brotliBytes),
        ...r.runtimes.map((x) => (x.latencyMs === null ? '—' : `${formatMs(x.latencyMs)}${x.speedup ? ` (${x.speedup.toFixed(2)}x)` : ''}`)),
        ...r.runtimes.map((x) => (x.cosine === null ? '—' : x.cosine.toFixed(6))),
      ]);
      for (const line of table([head, ...body], [2, 3, 4, ...runtimes.flatMap((_, i) => [5 + i, 5 + runtimes.length + i])])) ui.out(line);
      const q = [...new Set(rows.map((r) => r.brotliQuality))].join('/');
      ui.out(
        `(latency: batch 1, ${flags.threads ?? 1} thread(s), speedup against fp32 in the same runtime; cosine: against fp32 on ${typeof flags.data === 'string' ? flags.data : `${data.count} made-up samples`}; gzip -9, brotli quality ${q})`,
      );
      for (const r of rows) for (const x of r.runtimes) if (x.notMeasured) ui.warn(`${r.dtype} in ${x.runtime}: ${x.notMeasured}`);
      return 0;
    }),
  );
  return cmd;
}
