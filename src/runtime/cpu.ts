/**
 * What the CPU does to onnxruntime's int8 kernels. On x86-64 without VNNI (AVX2 or SSE4.1 only),
 * MLAS multiplies uint8 activations by int8 weights with `pmaddubsw`, which adds neighbouring
 * products in 16 bits and saturates: 255·(|w₁| + |w₂|) > 32767 loses precision. onnxruntime's
 * Python quantizer has `reduce_range` for these machines; mlc has `--reduce-range`.
 */
import { readFileSync } from 'node:fs';
import { arch } from 'node:os';

let cached: boolean | undefined;

/** True when this machine's int8 u8·s8 kernels may saturate (x86-64 without AVX-VNNI / AVX512-VNNI). */
export function int8Saturates(): boolean {
  if (cached !== undefined) return cached;
  cached = false;
  if (arch() !== 'x64') return cached;
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const flags = /^flags\s*:(.*)$/m.exec(info)?.[1]?.split(/\s+/) ?? [];
    if (flags.length) cached = !flags.some((f) => f === 'avx512_vnni' || f === 'avx_vnni' || f === 'amx_int8');
  } catch {
    // not Linux: unknown, assume a current CPU
  }
  return cached;
}
