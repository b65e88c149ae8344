/**
 * NumPy `.npz` archives: a zip of `.npy` members, as `numpy.savez` (stored) and
 * `numpy.savez_compressed` (deflated) write them. Member `x.npy` becomes array `x`.
 * Zip handling (incl. zip64) is fflate's.
 */
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { MlcError } from '../core/errors.js';
import { encodeNpy, parseNpy, type NdArray } from './npy.js';

/** Decode `.npz` bytes into arrays by name. `name` is used in error messages. */
export function parseNpz(bytes: Uint8Array, name = 'data.npz'): Record<string, NdArray> {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    throw new MlcError('INPUT', `${name}: not a .npz file (not a zip archive)`);
  }
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new MlcError('INPUT', `${name}: cannot unzip: ${(e as Error).message}`, { cause: e });
  }
  const out: Record<string, NdArray> = {};
  for (const [member, data] of Object.entries(files)) {
    if (member.endsWith('/')) continue; // directory entry
    const key = member.endsWith('.npy') ? member.slice(0, -4) : member;
    // each member is a fresh copy out of the archive: its arrays may be views of it
    out[key] = parseNpy(data, `${name}[${key}]`, { own: true });
  }
  return out;
}

export interface NpzWriteOptions {
  /** deflate the members (numpy.savez_compressed); default false (numpy.savez, stored) */
  compress?: boolean;
}

/** Encode arrays as `.npz` bytes. Deterministic: fixed member timestamps, members in key order given. */
export function encodeNpz(arrays: Record<string, NdArray>, opts: NpzWriteOptions = {}): Uint8Array {
  const files: Zippable = {};
  for (const [k, a] of Object.entries(arrays)) files[`${k}.npy`] = encodeNpy(a);
  // A fixed timestamp keeps the archive byte-identical from run to run.
  return zipSync(files, { level: opts.compress ? 6 : 0, mtime: new Date(1980, 0, 1, 0, 0, 0) });
}
