// Runs every benchmarks/*.bench.mjs in sequence (alphabetical), each in its own node process so
// one harness's sessions and memory do not disturb the next one's timings.
//
//   npm run bench            (= npm run build && node benchmarks/run.mjs)
//   node benchmarks/run.mjs results prune   (only the harnesses whose name contains a word)
//
// Exits 1 if any harness failed; the others still run.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => only.length === 0 || only.some((w) => f.includes(w)))
  .sort();

if (files.length === 0) {
  console.error(`no benchmarks/*.bench.mjs${only.length ? ` matching ${only.join(', ')}` : ''}`);
  process.exit(2);
}

const failed = [];
for (const f of files) {
  console.log(`\n=== ${f} ===`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [join(here, f)], { stdio: 'inherit', cwd: join(here, '..') });
  const s = ((Date.now() - t0) / 1000).toFixed(1);
  if (r.status === 0) console.log(`=== ${f}: done in ${s} s ===`);
  else {
    console.log(`=== ${f}: FAILED (exit ${r.status ?? r.signal}) after ${s} s ===`);
    failed.push(f);
  }
}
if (failed.length) {
  console.error(`\n${failed.length} of ${files.length} benchmark(s) failed: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`\nall ${files.length} benchmark(s) done`);
