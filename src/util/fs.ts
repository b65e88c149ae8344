/** File helpers: atomic writes with clear MlcError('OUTPUT') messages. */
import { statSync } from 'node:fs';
import { open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { MlcError } from '../core/errors.js';

function reason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOENT':
    case 'ENOTDIR':
      return 'folder does not exist';
    default:
      return code ?? (e as Error).message;
  }
}

/** Throw MlcError('OUTPUT') unless `path`'s folder exists and `path` is not a folder. */
export function checkOutputDir(path: string): void {
  const dir = dirname(resolve(path));
  let s;
  try {
    s = statSync(dir);
  } catch {
    throw new MlcError('OUTPUT', `${path}: output folder ${dir} does not exist`);
  }
  if (!s.isDirectory()) throw new MlcError('OUTPUT', `${path}: ${dir} is not a folder`);
  try {
    if (statSync(path).isDirectory()) throw new MlcError('OUTPUT', `${path}: is a directory`);
  } catch (e) {
    if (e instanceof MlcError) throw e;
  }
}

export async function removeQuietly(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // already gone
  }
}

/**
 * Write `data` to `path` atomically: a temp file in the same folder, then rename over `path`.
 * The temp file is removed on failure. Throws MlcError('OUTPUT') naming the file and the reason.
 * `beforeRename` sees the complete temp file before it takes `path`'s place: when it throws, the
 * temp file is removed and nothing is written (an MlcError is rethrown as is).
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string | readonly Uint8Array[],
  opts: { beforeRename?: (tmp: string) => Promise<void> } = {},
): Promise<void> {
  checkOutputDir(path);
  const abs = resolve(path);
  const tmp = join(dirname(abs), `.${basename(abs)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let fh;
  try {
    fh = await open(tmp, 'wx', 0o644);
  } catch (e) {
    throw new MlcError('OUTPUT', `${path}: cannot write (${reason(e)})`, { cause: e });
  }
  try {
    try {
      if (typeof data === 'string') await fh.writeFile(data, 'utf8');
      else if (data instanceof Uint8Array) await writeAll(fh, data);
      else for (const chunk of data) await writeAll(fh, chunk);
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      if ((await stat(abs)).isDirectory()) throw new MlcError('OUTPUT', `${path}: is a directory`);
    } catch (e) {
      if (e instanceof MlcError) throw e;
    }
    await opts.beforeRename?.(tmp);
    await rename(tmp, abs);
  } catch (e) {
    await removeQuietly(tmp);
    if (e instanceof MlcError) throw e;
    throw new MlcError('OUTPUT', `${path}: cannot write (${reason(e)})`, { cause: e });
  }
}

async function writeAll(fh: import('node:fs/promises').FileHandle, data: Uint8Array): Promise<void> {
  // write in slices: a single write call is limited to 2 GB
  const SLICE = 1 << 30;
  for (let off = 0; off < data.length; ) {
    const end = Math.min(data.length, off + SLICE);
    const { bytesWritten } = await fh.write(data, off, end - off);
    off += bytesWritten;
  }
}

/** Read and parse a JSON file; MlcError('INPUT') naming the file when it is missing or not JSON. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new MlcError('INPUT', `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MlcError('INPUT', `${file} is not valid JSON: ${(err as Error).message}`);
  }
}
