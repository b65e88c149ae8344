/**
 * NumPy `.npz` archives: a zip of `.npy` members, as `numpy.savez` (stored) and
 * `numpy.savez_compressed` (deflated) write them. Member `x.npy` becomes array `x`.
 * Zip handling (incl. zip64) is fflate's.
 */
import { unzipSync, zipSync, type Zippable } from 'fflate';
import { MlcError } from '../core/errors.js';
import { encodeNpy, parseNpy, type NdArray } from './npy.js';

/** A member of a zip archive as its central directory lists it. */
export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflated */
  method: number;
  /** bytes in the archive */
  size: number;
  /** offset of its local header in the archive */
  local: number;
}

const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16)) + b[o + 3] * 2 ** 24;
const u64 = (b: Uint8Array, o: number) => u32(b, o) + u32(b, o + 4) * 2 ** 32;

/**
 * The central directory of a zip archive (zip64 included) read from its last bytes: `tail` holds
 * bytes [`end` − tail.length, `end`) of the archive, `end` being its size. Undefined when the
 * directory is not wholly in `tail` or is not one this reader knows (then unzip the whole file).
 */
export function zipDirectory(tail: Uint8Array, end: number): ZipEntry[] | undefined {
  const base = end - tail.length;
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0 && i >= tail.length - 22 - 65535; i--) {
    if (u32(tail, i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return undefined;
  let count = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdAt = u32(tail, eocd + 16);
  if (cdAt === 0xffffffff || count === 0xffff || cdSize === 0xffffffff) {
    // zip64: the locator just before the end record points at the zip64 end record
    const loc = eocd - 20;
    if (loc < 0 || u32(tail, loc) !== 0x07064b50) return undefined;
    const rec = u64(tail, loc + 8) - base;
    if (rec < 0 || rec + 56 > tail.length || u32(tail, rec) !== 0x06064b50) return undefined;
    count = u64(tail, rec + 32);
    cdSize = u64(tail, rec + 40);
    cdAt = u64(tail, rec + 48);
  }
  let o = cdAt - base;
  if (o < 0 || o + cdSize > tail.length) return undefined;
  const entries: ZipEntry[] = [];
  for (let k = 0; k < count; k++) {
    if (o + 46 > tail.length || u32(tail, o) !== 0x02014b50) return undefined;
    const nameLen = u16(tail, o + 28);
    const extraLen = u16(tail, o + 30);
    let size = u32(tail, o + 20);
    const plain = u32(tail, o + 24);
    let local = u32(tail, o + 42);
    // zip64 extra field: the 64-bit values of the fields that are all ones, in this order
    for (let e = o + 46 + nameLen; e + 4 <= o + 46 + nameLen + extraLen; e += 4 + u16(tail, e + 2)) {
      if (u16(tail, e) !== 1) continue;
      let f = e + 4;
      if (plain === 0xffffffff) f += 8;
      if (size === 0xffffffff) (size = u64(tail, f)), (f += 8);
      if (local === 0xffffffff) local = u64(tail, f);
    }
    const name = new TextDecoder().decode(tail.subarray(o + 46, o + 46 + nameLen));
    entries.push({ name, method: u16(tail, o + 10), size, local });
    o += 46 + nameLen + extraLen + u16(tail, o + 32);
  }
  return entries;
}

/** Offset of a member's bytes in the archive, from its local header (`head`: the archive's bytes from the header on). */
export function zipDataOffset(head: Uint8Array, entry: ZipEntry): number | undefined {
  if (head.length < 30 || u32(head, 0) !== 0x04034b50) return undefined;
  return entry.local + 30 + u16(head, 26) + u16(head, 28);
}

/**
 * Arrays of an archive whose members are all stored (numpy.savez): each array is a view of
 * `bytes` where it is aligned (parseNpy `own`), else a copy of that member's data alone; no copy of
 * the members first. Undefined for anything else (deflated members, a directory out of reach).
 */
function storedArrays(bytes: Uint8Array, name: string): Record<string, NdArray> | undefined {
  const entries = zipDirectory(bytes, bytes.length);
  if (!entries || entries.some((e) => e.method !== 0 && !e.name.endsWith('/'))) return undefined;
  const out: Record<string, NdArray> = {};
  for (const e of entries) {
    if (e.name.endsWith('/')) continue; // directory entry
    const at = zipDataOffset(bytes.subarray(e.local), e);
    if (at === undefined || at + e.size > bytes.length) return undefined;
    const key = e.name.endsWith('.npy') ? e.name.slice(0, -4) : e.name;
    out[key] = parseNpy(bytes.subarray(at, at + e.size), `${name}[${key}]`, { own: true });
  }
  return out;
}

/**
 * Decode `.npz` bytes into arrays by name. `name` is used in error messages. With `own` (the
 * caller hands the bytes over), the arrays of a stored archive may be views of them.
 */
export function parseNpz(bytes: Uint8Array, name = 'data.npz', opts: { own?: boolean } = {}): Record<string, NdArray> {
  if (bytes.length < 4 || bytes[0] !== 0x50 || bytes[1] !== 0x4b) {
    throw new MlcError('INPUT', `${name}: not a .npz file (not a zip archive)`);
  }
  const stored = opts.own ? storedArrays(bytes, name) : undefined;
  if (stored) return stored;
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
