import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpz } from '../../src/data/dataset.js';
import { encodeNpz, parseNpz, zipDirectory } from '../../src/data/npz.js';

const dir = join(__dirname, 'files');
const bytes = (f: string) => new Uint8Array(readFileSync(join(dir, f)));
const x = Array.from({ length: 20 }, (_, i) => Math.fround(i / 20));

describe('npz', () => {
  it('reads numpy.savez (stored) and numpy.savez_compressed (deflated) archives alike', () => {
    for (const f of ['stored.npz', 'deflated.npz']) {
      const a = parseNpz(bytes(f), f);
      expect(Object.keys(a).sort()).toEqual(['input', 'labels']);
      expect(a.input.dims).toEqual([5, 4]);
      expect(Array.from(a.input.data as Float32Array)).toEqual(x);
      expect(a.labels.dtype).toBe('int64');
      expect(Array.from(a.labels.data as BigInt64Array)).toEqual([0n, 1n, 2n, 1n, 0n]);
    }
  });

  it('round-trips stored and deflated, and deflate is smaller on redundant data', () => {
    const arrays = {
      input: { dtype: 'float', dims: [100, 10], data: new Float32Array(1000).fill(0.25) },
      labels: { dtype: 'int64', dims: [100], data: new BigInt64Array(100).fill(3n) },
    };
    const stored = encodeNpz(arrays);
    const deflated = encodeNpz(arrays, { compress: true });
    expect(deflated.length).toBeLessThan(stored.length / 5);
    expect(parseNpz(stored)).toEqual(arrays);
    expect(parseNpz(deflated)).toEqual(arrays);
    // deterministic: same bytes twice
    expect(Buffer.from(encodeNpz(arrays)).equals(Buffer.from(stored))).toBe(true);
  });

  it("stored archives (zip64 too) read from a file: the same arrays, the largest one a view of the file's bytes, aligned", async () => {
    for (const f of ['stored.npz', 'zip64.npz', 'deflated.npz', 'two_inputs.npz']) {
      const ref = parseNpz(bytes(f), f);
      const got = await readNpz(join(dir, f));
      expect(got, f).toEqual(ref);
      const size = bytes(f).length;
      // a view of the file's bytes (one buffer of the file's size plus at most 7 bytes of shift),
      // not a copy of the member
      const input = got.input ?? got.a;
      if (f !== 'deflated.npz') expect(input.data.buffer.byteLength - size, f).toBeLessThan(8);
      else expect(input.data.buffer.byteLength, f).toBeLessThan(size);
      expect(input.data.byteOffset % 8).toBe(0);
    }
    const dirOf = (f: string) => zipDirectory(bytes(f), bytes(f).length)!.map((e) => [e.name, e.method]);
    expect(dirOf('zip64.npz')).toEqual([
      ['input.npy', 0],
      ['labels.npy', 0],
    ]);
    expect(dirOf('deflated.npz')).toEqual([
      ['input.npy', 8],
      ['labels.npy', 8],
    ]);
    // a directory out of reach of the bytes given: unknown (the caller unzips the whole file)
    const b = bytes('stored.npz');
    expect(zipDirectory(b.subarray(b.length - 30), b.length)).toBeUndefined();
    expect(zipDirectory(b.subarray(0, 300), 300)).toBeUndefined();
  });

  it('refuses files that are not zip archives, and bad members name the member', () => {
    expect(() => parseNpz(new Uint8Array([1, 2, 3, 4, 5]), 'x.npz')).toThrow(/x\.npz: not a \.npz file/);
    const cut = bytes('stored.npz').subarray(0, 300);
    expect(() => parseNpz(cut, 'cut.npz')).toThrow(/cut\.npz/);
    expect(() => parseNpz(cut, 'cut.npz', { own: true })).toThrow(/cut\.npz/);
  });
});
