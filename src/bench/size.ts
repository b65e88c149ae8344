/**
 * Size measurements: bytes on disk (model file plus external data files), gzip -9 bytes (what a
 * web user downloads; zeros from pruning compress away here), parameter count, non-zero
 * parameters and bytes by dtype.
 *
 * Parameters are counted by src/ir/params.ts (countParams).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { gzipSync, createGzip } from 'node:zlib';
import { MlcError } from '../core/errors.js';
import type { Model } from '../ir/model.js';
import { countParams } from '../ir/params.js';

export interface SizeStats {
  sizeBytes: number;
  gzipBytes: number;
  params: number;
  nonzeroParams: number;
  bytesByDtype: Record<string, number>;
}

/** gzip -9 size of bytes in memory. */
export function gzipSize(bytes: Uint8Array): number {
  return gzipSync(bytes, { level: 9 }).length;
}

/** gzip -9 size of a file, streamed (external data files can be large). */
export async function gzipFileSize(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const gz = createGzip({ level: 9 });
    gz.on('data', (c: Buffer) => (n += c.length));
    gz.on('end', () => resolve(n));
    gz.on('error', reject);
    const rs = createReadStream(path);
    rs.on('error', (e) => reject(new MlcError('INPUT', `cannot read ${path}: ${(e as Error).message}`, { cause: e })));
    rs.pipe(gz);
  });
}

/** Bytes on disk and gzip -9 bytes of a set of files (each file compressed on its own). */
export async function filesSize(paths: string[]): Promise<{ sizeBytes: number; gzipBytes: number }> {
  let sizeBytes = 0;
  let gzipBytes = 0;
  for (const p of new Set(paths)) {
    try {
      sizeBytes += (await stat(p)).size;
    } catch (e) {
      throw new MlcError('INPUT', `cannot read ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
    }
    gzipBytes += await gzipFileSize(p);
  }
  return { sizeBytes, gzipBytes };
}

/** External data files the model file at `path` references (absolute paths; [] if none). */
export async function externalFilesOf(path: string): Promise<string[]> {
  const { externalDataFiles } = await import('../onnx/index.js');
  return externalDataFiles(path);
}

/**
 * Size of a model: on disk when `path` is given (plus `externalFiles`, or those the file references),
 * else of `bytes`, else of the model serialized in memory.
 */
export async function measureSize(
  model: Model,
  where: { path?: string; externalFiles?: string[]; bytes?: Uint8Array } = {},
): Promise<SizeStats> {
  let disk: { sizeBytes: number; gzipBytes: number };
  if (where.path) {
    const ext = where.externalFiles ?? (await externalFilesOf(where.path));
    disk = await filesSize([where.path, ...ext]);
  } else {
    const bytes = where.bytes ?? (await import('../onnx/index.js')).modelToBytes(model);
    disk = { sizeBytes: bytes.length, gzipBytes: gzipSize(bytes) };
  }
  return { ...disk, ...countParams(model) };
}
