/**
 * mlc's codec (src/onnx/wire.ts) against onnx-proto (protobufjs, ONNX 1.10), the bindings mlc used
 * before (kept as a devDependency for this test only): on every model of libonnx-testdata and the
 * TensorProtos of its test_data_set_0 folders, both decoders give the same objects (over the fields
 * onnx-proto knows), and mlc's encoding of mlc's objects is byte-identical to onnx-proto's encoding
 * of its own.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { SCHEMA, decode, encode, type Msg } from '../../src/onnx/wire.js';
import { haveTestdata, testdataModels } from '../helpers/testdata.js';

/** Fields added to onnx.proto after ONNX 1.10 (onnx-proto skips them). */
const NEWER: Record<string, string[]> = {
  ModelProto: ['configuration'],
  GraphProto: ['metadataProps'],
  NodeProto: ['overload', 'metadataProps', 'deviceConfigurations'],
  TensorProto: ['metadataProps'],
  ValueInfoProto: ['metadataProps'],
  FunctionProto: ['attributeProto', 'valueInfo', 'overload', 'metadataProps'],
};

interface LongLike {
  low: number;
  high: number;
}

function int64String(v: unknown, unsigned: boolean): string {
  if (typeof v === 'number' || typeof v === 'bigint') return (unsigned ? BigInt.asUintN(64, BigInt(v)) : BigInt.asIntN(64, BigInt(v))).toString();
  const l = v as LongLike;
  const b = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  return (unsigned ? b : BigInt.asIntN(64, b)).toString();
}

/** A comparable form of a decoded message (either decoder's), over the fields onnx-proto knows. */
function normalize(m: Msg, type: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const spec of Object.values(SCHEMA[type])) {
    if (NEWER[type]?.includes(spec.name)) continue;
    if (!Object.hasOwn(m, spec.name) || m[spec.name] == null) continue;
    const one = (v: unknown): unknown => {
      const k = spec.kind;
      if (typeof k === 'object') return normalize(v as Msg, k.m);
      if (k === 'b') return Buffer.from(v as Uint8Array).toString('hex');
      if (k === 'i64' || k === 'u64') return int64String(v, k === 'u64');
      if (k === 'f32' || k === 'f64') return Object.is(v, -0) ? '-0' : Number.isNaN(v) ? 'NaN' : v;
      return v;
    };
    const v = m[spec.name];
    if (spec.repeated) {
      const list = Array.from(v as ArrayLike<unknown>);
      if (list.length) out[spec.name] = list.map(one);
    } else out[spec.name] = one(v);
  }
  return out;
}

function hasUnknown(v: unknown): boolean {
  if (!v || typeof v !== 'object' || ArrayBuffer.isView(v)) return false;
  if (Array.isArray(v)) return v.some(hasUnknown);
  return '$unknown' in v || Object.values(v).some(hasUnknown);
}

function tensorProtos(modelPath: string): string[] {
  const dir = join(dirname(modelPath), 'test_data_set_0');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pb'))
    .sort()
    .map((f) => join(dir, f));
}

describe.skipIf(!haveTestdata())('codec vs onnx-proto on libonnx-testdata', () => {
  it('decodes every model and tensor to the same objects and encodes them to the same bytes', { timeout: 300_000 }, () => {
    const models = testdataModels();
    expect(models.length).toBeGreaterThan(500);
    const differ: string[] = [];
    let tensors = 0;
    let compared = 0;
    const check = (path: string, type: 'ModelProto' | 'TensorProto') => {
      const bytes = new Uint8Array(readFileSync(path));
      const theirs = (onnxProto.onnx[type] as unknown as { decode(b: Uint8Array): Msg; encode(m: Msg): { finish(): Uint8Array } }).decode(bytes);
      const ours = decode(bytes, type);
      const a = normalize(ours, type);
      const b = normalize(theirs, type);
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        differ.push(`${path}: decoded objects differ`);
        return;
      }
      // the same bytes out, when nothing onnx-proto does not know is in the file
      if (!hasUnknown(ours)) {
        const theirBytes = (onnxProto.onnx[type] as unknown as { encode(m: Msg): { finish(): Uint8Array } }).encode(theirs).finish();
        if (!Buffer.from(encode(type, ours)).equals(Buffer.from(theirBytes))) differ.push(`${path}: encoded bytes differ`);
        compared++;
      }
    };
    for (const path of models) {
      check(path, 'ModelProto');
      for (const pb of tensorProtos(path)) {
        check(pb, 'TensorProto');
        tensors++;
      }
    }
    expect(tensors).toBeGreaterThan(1000);
    expect(compared).toBeGreaterThan(models.length);
    expect(differ).toEqual([]);
  });
});
