import { describe, expect, it } from 'vitest';
import { Constants, constantNodeValue, transpose } from '../../src/ir/constants.js';
import { DataType } from '../../src/ir/dtype.js';
import { ModelBuilder } from '../../src/ir/builder.js';
import { AttrType, type Node } from '../../src/ir/node.js';
import { Tensor } from '../../src/ir/tensor.js';
import { halfToFloat } from '../../src/math/float16.js';
import { createSession } from '../../src/runtime/index.js';

const iota = (n: number) => Float32Array.from({ length: n }, (_, i) => i - n / 3);

function constNode(out: string, attr: string, type: AttrType, value: unknown): Node {
  return { name: `c_${out}`, opType: 'Constant', domain: '', inputs: [], outputs: [out], attributes: [{ name: attr, type, value: value as never }] };
}

describe('Constants', () => {
  it('initializers, Constant nodes in every form, overridable inputs and legacy IR', () => {
    const b = new ModelBuilder();
    b.init('w', [2, 3], iota(6));
    b.init('over', [2], [1, 2]);
    b.graph.inputs.push({ name: 'over', type: { kind: 'tensor', elemType: DataType.FLOAT, shape: [2] } });
    const g = b.graph;
    g.nodes.push(
      constNode('cv', 'value', AttrType.TENSOR, Tensor.float32('t', [2], [5, 6])),
      constNode('cf', 'value_float', AttrType.FLOAT, 1.5),
      constNode('cfs', 'value_floats', AttrType.FLOATS, [1, 2, 3]),
      constNode('ci', 'value_int', AttrType.INT, 7),
      constNode('cis', 'value_ints', AttrType.INTS, [4, 5]),
      constNode('cs', 'value_string', AttrType.STRING, 'x'),
      constNode('csp', 'sparse_value', AttrType.SPARSE_TENSOR, { values: Tensor.float32('v', [2], [9, 8]), indices: Tensor.int64('i', [2], [1, 4]), dims: [2, 3] }),
    );
    g.touch();
    const c = new Constants(g);
    expect(c.info('w')).toMatchObject({ direct: true, key: 'init:w', chain: [], sources: ['w'] });
    expect(c.get('over')).toBeUndefined();
    expect(new Constants(g, { legacyInitializers: true }).get('over')?.toIntArray()).toEqual([1, 2]);
    expect(c.info('cv')?.direct).toBe(true);
    expect(Array.from(c.get('cv')!.toNumbers())).toEqual([5, 6]);
    expect(c.get('cf')!.dims).toEqual([]);
    expect(Array.from(c.get('cf')!.toNumbers())).toEqual([1.5]);
    expect(c.info('cf')!.direct).toBe(false); // built from the attribute: not editable in place
    expect(Array.from(c.get('cfs')!.toNumbers())).toEqual([1, 2, 3]);
    expect(c.get('ci')!.dtype).toBe(DataType.INT64);
    expect(c.get('ci')!.toIntArray()).toEqual([7]);
    expect(c.get('cis')!.toIntArray()).toEqual([4, 5]);
    expect(c.get('cs')).toBeUndefined();
    expect(Array.from(c.get('csp')!.toNumbers())).toEqual([0, 9, 0, 0, 8, 0]);
    expect(c.get('nothing')).toBeUndefined();
    expect(c.get('')).toBeUndefined();
  });

  it('evaluates Identity / Cast / Reshape / Flatten / Squeeze / Unsqueeze / Transpose chains, with one key per value', () => {
    const b = new ModelBuilder({ opset: 13 });
    const x = b.input('x', DataType.FLOAT, [4, 6]);
    const w = b.init('w', [4, 6], iota(24));
    const id1 = b.op('Identity', [w]);
    const id2 = b.op('Identity', [b.op('Identity', [w])]);
    const r = b.op('Reshape', [id1, b.ints('shape', [2, -1, 0])]); // 0 copies a dimension w does not have
    const r2 = b.op('Reshape', [w, b.ints('shape2', [2, 0, -1])]); // [2, 6, 2]
    const fl = b.op('Flatten', [r2], { axis: 2 }); // [12, 2]
    const un = b.op('Unsqueeze', [w, b.ints('axes', [0, -1])]); // [1, 4, 6, 1]
    const sq = b.op('Squeeze', [un]); // [4, 6]
    const tr = b.op('Transpose', [w], { perm: [1, 0] });
    const tr3 = b.op('Transpose', [b.op('Reshape', [w, b.ints('s3', [2, 3, 4])])], { perm: [2, 0, 1] });
    const half = b.op('Cast', [tr], { to: DataType.FLOAT16 });
    const back = b.op('Cast', [half], { to: DataType.FLOAT });
    const dyn = b.op('Identity', [x]);
    const mixed = b.op('Reshape', [x, b.ints('s4', [24])]);
    const c = new Constants(b.graph);
    expect(c.info(id1)).toMatchObject({ key: 'init:w', direct: false, sources: ['w'] });
    expect(c.info(id2)!.key).toBe('init:w');
    expect(c.get(r)).toBeUndefined(); // 0 refers to a dimension the input does not have
    expect(c.get(r2)!.dims).toEqual([2, 6, 2]);
    expect(c.get(fl)!.dims).toEqual([12, 2]);
    expect(Array.from(c.get(fl)!.toNumbers())).toEqual(Array.from(iota(24)));
    expect(c.get(un)!.dims).toEqual([1, 4, 6, 1]);
    expect(c.get(sq)!.dims).toEqual([4, 6]);
    // the reshape family collapses: same dims of the same data, same key
    expect(c.info(sq)!.key).toBe(c.info(b.op('Reshape', [w, b.ints('s5', [4, 6])]))!.key);
    expect(c.info(fl)!.key).not.toBe(c.info(r2)!.key);
    const t = c.get(tr)!;
    expect(t.dims).toEqual([6, 4]);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 6; j++) expect(t.toNumbers()[j * 4 + i]).toBe(iota(24)[i * 6 + j]);
    expect(c.info(tr)!.chain.map((n) => n.opType)).toEqual(['Transpose']);
    expect(c.get(tr3)!.dims).toEqual([4, 2, 3]);
    const h = c.get(half)!;
    expect(h.dtype).toBe(DataType.FLOAT16);
    expect(halfToFloat((h.data as Uint16Array)[1])).toBe(iota(24)[6]);
    expect(c.get(back)!.dtype).toBe(DataType.FLOAT);
    expect(c.info(back)!.chain.map((n) => n.opType)).toEqual(['Cast', 'Cast', 'Transpose']);
    expect(c.get(dyn)).toBeUndefined();
    expect(c.get(mixed)).toBeUndefined();
  });

  it('N-D transpose matches onnxruntime', async () => {
    const b = new ModelBuilder({ opset: 13 });
    const x = b.input('x', DataType.FLOAT, [2, 3, 4, 5]);
    b.output(b.op('Transpose', [x], { perm: [2, 0, 3, 1] }), DataType.FLOAT);
    const data = iota(120);
    const s = await createSession(b.build());
    const ref = (await s.run({ x: { dtype: 'float', dims: [2, 3, 4, 5], data } }))[s.outputNames[0]];
    await s.release();
    const t = transpose(Tensor.float32('x', [2, 3, 4, 5], data), [2, 0, 3, 1]);
    expect(t.dims).toEqual(ref.dims);
    expect(Array.from(t.data as Float32Array)).toEqual(Array.from(ref.data as Float32Array));
  });

  it('Slice and Concat of constants (the gate blocks of an LSTM put in ONNX order) match onnxruntime, with one key per value', async () => {
    const b = new ModelBuilder({ opset: 13 });
    const x = b.input('x', DataType.FLOAT, [1, 3]);
    const w = b.init('w', [8, 3], iota(24));
    const cut = (name: string, starts: number[], ends: number[], axes?: number[], steps?: number[]) =>
      b.op('Slice', [
        w,
        b.ints(`${name}_s`, starts),
        b.ints(`${name}_e`, ends),
        ...(axes ? [b.ints(`${name}_a`, axes)] : []),
        ...(steps ? [b.ints(`${name}_st`, steps)] : []),
      ]);
    // PyTorch's i, f, g, o blocks of 2 rows → ONNX's i, o, f, c
    const i = cut('i', [0], [2]);
    const f = cut('f', [2], [4]);
    const g = cut('g', [4], [6]);
    const o = cut('o', [6], [1e9]); // past the end: clamped
    const gates = b.op('Concat', [i, o, f, g], { axis: 0 });
    const odd = cut('odd', [-1, 2], [-9, 0], [0, 1], [-2, -1]); // backwards, negative indices
    const same = cut('same', [0], [8]);
    const dyn = b.op('Concat', [w, b.op('Identity', [x])], { axis: 0 });
    for (const v of [gates, odd]) b.output(v, DataType.FLOAT);
    const s = await createSession(b.build());
    const ref = await s.run({ x: { dtype: 'float', dims: [1, 3], data: new Float32Array(3) } });
    await s.release();
    const c = new Constants(b.graph);
    for (const [v, k] of [
      [gates, 0],
      [odd, 1],
    ] as const) {
      const r = ref[s.outputNames[k]];
      expect(c.get(v)!.dims).toEqual(r.dims);
      expect(Array.from(c.get(v)!.data as Float32Array)).toEqual(Array.from(r.data as Float32Array));
    }
    expect(c.info(gates)!.sources).toContain('w');
    expect(c.info(gates)!.key).toBe(c.info(b.op('Concat', [i, o, f, g], { axis: 0 }))!.key);
    expect(c.info(gates)!.key).not.toBe(c.info(b.op('Concat', [i, f, g, o], { axis: 0 }))!.key);
    expect(c.info(same)!.key).toBe('init:w'); // the whole tensor
    expect(c.get(dyn)).toBeUndefined();
  });

  it('re-validates memoised answers after graph edits', () => {
    const b = new ModelBuilder();
    const w = b.init('w', [2, 2], [1, 2, 3, 4]);
    const id = b.op('Identity', [w]);
    const c = new Constants(b.graph);
    expect(c.has(id)).toBe(true);
    // w becomes a computed, non-constant value
    const x = b.input('x', DataType.FLOAT, [2, 2]);
    b.graph.initializers.delete(w);
    b.graph.makeNode('Relu', [x], [w]);
    expect(c.has(id)).toBe(false);
  });

  it('removeIfUnused walks back through the chain and keeps what others read', () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2, 4]);
    const w = b.init('w', [4, 4], iota(16));
    const t = b.op('Transpose', [b.op('Identity', [w], {}, { name: 'id' })], { perm: [1, 0] }, { name: 'tr' });
    const m1 = b.op('MatMul', [x, t], {}, { name: 'mm1' });
    const m2 = b.op('MatMul', [x, w], {}, { name: 'mm2' });
    b.output(m1, DataType.FLOAT);
    b.output(m2, DataType.FLOAT);
    const g = b.graph;
    const c = new Constants(g);
    expect(c.removeIfUnused(t)).toBe(0); // still read
    g.nodes.find((n) => n.name === 'mm1')!.inputs[1] = 'x';
    g.touch();
    expect(c.removeIfUnused(t)).toBe(2); // Transpose, Identity; w is still read by mm2
    expect(g.nodes.map((n) => n.name)).toEqual(['mm1', 'mm2']);
    expect(g.initializers.has('w')).toBe(true);
    g.nodes.find((n) => n.name === 'mm2')!.inputs[1] = 'x';
    g.touch();
    expect(c.removeIfUnused(w)).toBe(1);
    expect(g.initializers.has('w')).toBe(false);
    expect(constantNodeValue({ name: '', opType: 'Constant', domain: '', inputs: [], outputs: ['o'], attributes: [] })).toBeUndefined();
  });
});

describe('Constants on element types it cannot evaluate', () => {
  it('a Transpose of packed int4 or complex data, a Cast from float to int, strings: not constants, no throw', () => {
    const b = new ModelBuilder({ opset: 21 });
    const i4 = b.init('i4', [2, 4], new Uint8Array(4), DataType.INT4);
    const cx = b.init('cx', [2, 2], new Float32Array(8), DataType.COMPLEX64);
    const f = b.init('f', [2, 2], [1.5, 2.5, -1, 0]);
    const c = new Constants(b.graph);
    expect(c.get(b.op('Transpose', [i4], { perm: [1, 0] }))).toBeUndefined();
    expect(c.get(b.op('Transpose', [cx], { perm: [1, 0] }))).toBeUndefined();
    expect(c.get(b.op('Reshape', [i4, b.ints('s', [8])]))!.dims).toEqual([8]); // a view is fine
    expect(c.get(b.op('Cast', [f], { to: DataType.INT32 }))).toBeUndefined();
    const i32 = c.get(b.op('Cast', [b.op('Cast', [b.ints('v', [3, -2])], { to: DataType.INT32 })], { to: DataType.FLOAT }))!;
    expect(Array.from(i32.toNumbers())).toEqual([3, -2]);
  });
});
