/**
 * Read a model file without holding it twice: the big raw_data payloads of the main graph's
 * initializers are read straight from the file into buffers of their own (one copy from the page
 * cache, aligned for every element type, freed one by one when a pass replaces the tensor), and
 * the rest of the file — the "skeleton", the same protobuf with those raw_data fields left out and
 * the enclosing lengths rewritten — into one small buffer that wire.ts decodes.
 *
 * Compared with reading the whole file and viewing raw_data in place: no second copy of the
 * tensors whose offset in the file is not aligned for their type (most of them: writers do not
 * align raw_data), and no file-sized buffer kept alive by the few views that are aligned.
 *
 * The scan understands only the framing it needs (ModelProto.graph → GraphProto.initializer →
 * TensorProto.raw_data); anything it does not expect (a malformed varint, a length past the end, a
 * repeated graph field) makes it return undefined, and the caller reads the whole file the ordinary
 * way, whose walker reports the precise error.
 */
import { readSync } from 'node:fs';

/** raw_data payloads at least this big are read into buffers of their own. */
export const SCAN_MIN_PAYLOAD = 4096;

export interface Skeleton {
  /** the model without the extracted raw_data fields */
  bytes: Uint8Array;
  /** index in graph.initializer → its raw_data payload (only the extracted ones) */
  payloads: Map<number, Payload>;
}

/** A raw_data payload: its bytes, or (lazy scan) where they are in the file. */
export type Payload = Uint8Array | { offset: number; length: number };

type Segment = { start: number; end: number } | Uint8Array;

export class Bail extends Error {}

/** A forward reader over a file descriptor with a small window for tags and lengths. */
class FileReader {
  private buf = Buffer.allocUnsafeSlow(1 << 16);
  private bufStart = 0;
  private bufEnd = 0;
  constructor(
    readonly fd: number,
    readonly size: number,
  ) {}

  byteAt(pos: number): number {
    if (pos >= this.size) throw new Bail();
    if (pos < this.bufStart || pos >= this.bufEnd) {
      const n = readSync(this.fd, this.buf, 0, Math.min(this.buf.length, this.size - pos), pos);
      if (n <= 0) throw new Bail();
      this.bufStart = pos;
      this.bufEnd = pos + n;
    }
    return this.buf[pos - this.bufStart];
  }

  /** varint at `pos` (exact up to 2^53) → [value, next position]; throws Bail past `end`. */
  varint(pos: number, end: number): [number, number] {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) throw new Bail();
      const b = this.byteAt(pos++);
      result += (b & 0x7f) * mul;
      if (b < 0x80) return [result, pos];
      mul *= 128;
    }
    throw new Bail();
  }

  /** Read `length` bytes at `pos` into a buffer of their own (offset 0, so aligned for any type). */
  readOwn(pos: number, length: number): Uint8Array {
    return readOwn(this.fd, pos, length);
  }

  readInto(out: Uint8Array, at: number, pos: number, length: number): void {
    if (!readFully(this.fd, out, at, pos, length)) throw new Bail();
  }
}

/** readSync until `length` bytes are in (a call takes at most 2 GB); false on a short read. */
export function readFully(fd: number, out: Uint8Array, at: number, pos: number, length: number): boolean {
  const SLICE = 1 << 30;
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, at + done, Math.min(SLICE, length - done), pos + done);
    if (n <= 0) return false;
    done += n;
  }
  return true;
}

/** `length` bytes at `pos` of `fd` in a buffer of their own (offset 0: aligned for any type). */
export function readOwn(fd: number, pos: number, length: number): Uint8Array {
  const out = Buffer.allocUnsafeSlow(length);
  if (!readFully(fd, out, 0, pos, length)) throw new Bail();
  return new Uint8Array(out.buffer, 0, length);
}

function varintBytes(v: number): Uint8Array {
  const b: number[] = [];
  while (v >= 0x80) {
    b.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  b.push(v);
  return Uint8Array.from(b);
}

function segLength(s: Segment): number {
  return s instanceof Uint8Array ? s.length : s.end - s.start;
}

/** Push a file range, merging it with the previous one when they touch. */
function pushRange(out: Segment[], start: number, end: number): void {
  const last = out[out.length - 1];
  if (last && !(last instanceof Uint8Array) && last.end === start) last.end = end;
  else out.push({ start, end });
}

interface Field {
  field: number;
  wt: number;
  /** start of the tag */
  start: number;
  /** start of the value (after the length for wire type 2) */
  valStart: number;
  end: number;
}

function readField(r: FileReader, pos: number, end: number): Field {
  const [tag, p] = r.varint(pos, end);
  const field = Math.floor(tag / 8);
  const wt = tag % 8;
  if (field === 0) throw new Bail();
  let valStart = p;
  let fieldEnd: number;
  switch (wt) {
    case 0:
      fieldEnd = r.varint(p, end)[1];
      break;
    case 1:
      fieldEnd = p + 8;
      break;
    case 2: {
      const [len, q] = r.varint(p, end);
      valStart = q;
      fieldEnd = q + len;
      break;
    }
    case 5:
      fieldEnd = p + 4;
      break;
    default:
      throw new Bail();
  }
  if (fieldEnd > end) throw new Bail();
  return { field, wt, start: pos, valStart, end: fieldEnd };
}

/**
 * Scan the model file open as `fd` (`size` bytes). Returns undefined when the file is not framed as
 * expected, or when nothing is big enough to be worth extracting (the caller then reads it whole).
 */
export function scanModelFile(fd: number, size: number, opts: { minPayload?: number; lazy?: boolean } = {}): Skeleton | undefined {
  const minPayload = opts.minPayload ?? SCAN_MIN_PAYLOAD;
  const r = new FileReader(fd, size);
  const payloads = new Map<number, Payload>();
  let initIndex = 0;

  const tensor = (start: number, end: number, index: number): Segment[] => {
    const segs: Segment[] = [];
    for (let pos = start; pos < end; ) {
      const f = readField(r, pos, end);
      if (f.field === 9 && f.wt === 2) {
        const len = f.end - f.valStart;
        if (len >= minPayload) {
          payloads.set(index, opts.lazy ? { offset: f.valStart, length: len } : r.readOwn(f.valStart, len));
          pos = f.end;
          continue;
        }
        // a later raw_data wins over an earlier one (protobuf semantics): forget an extracted one
        payloads.delete(index);
      }
      pushRange(segs, f.start, f.end);
      pos = f.end;
    }
    return segs;
  };

  const graph = (start: number, end: number): Segment[] => {
    const segs: Segment[] = [];
    for (let pos = start; pos < end; ) {
      const f = readField(r, pos, end);
      if (f.field === 5 && f.wt === 2) {
        const inner = tensor(f.valStart, f.end, initIndex++);
        const len = inner.reduce((s, x) => s + segLength(x), 0);
        if (len === f.end - f.valStart) pushRange(segs, f.start, f.end);
        else segs.push(varintBytes((5 << 3) | 2), varintBytes(len), ...inner);
      } else {
        pushRange(segs, f.start, f.end);
      }
      pos = f.end;
    }
    return segs;
  };

  let segs: Segment[] = [];
  try {
    let graphs = 0;
    for (let pos = 0; pos < size; ) {
      const f = readField(r, pos, size);
      if (f.field === 7 && f.wt === 2) {
        // a repeated singular message is merged by protobuf; leave that rare case to the full reader
        if (++graphs > 1) return undefined;
        const inner = graph(f.valStart, f.end);
        const len = inner.reduce((s, x) => s + segLength(x), 0);
        segs.push(varintBytes((7 << 3) | 2), varintBytes(len), ...inner);
      } else {
        pushRange(segs, f.start, f.end);
      }
      pos = f.end;
    }
    if (payloads.size === 0) return undefined;
    const total = segs.reduce((s, x) => s + segLength(x), 0);
    const bytes = new Uint8Array(total);
    let at = 0;
    for (const s of segs) {
      if (s instanceof Uint8Array) bytes.set(s, at);
      else r.readInto(bytes, at, s.start, s.end - s.start);
      at += segLength(s);
    }
    segs = [];
    return { bytes, payloads };
  } catch {
    // Bail (unexpected framing) or an I/O error: the caller's ordinary read reports it
    return undefined;
  }
}
