/** Writing .npy / .npz files (atomically: temp file + rename in the target folder). */
import { writeFileAtomic } from '../util/fs.js';
import { encodeNpy, type NdArray } from './npy.js';
import { encodeNpz, type NpzWriteOptions } from './npz.js';

export async function writeNpy(path: string, arr: NdArray): Promise<void> {
  await writeFileAtomic(path, encodeNpy(arr));
}

export async function writeNpz(path: string, arrays: Record<string, NdArray>, opts: NpzWriteOptions = {}): Promise<void> {
  await writeFileAtomic(path, encodeNpz(arrays, opts));
}
