import { describe, expect, it } from 'vitest';
import { MlcError } from '../../src/core/errors.js';
import { DataType, Graph, ModelBuilder, Tensor, tensorType } from '../../src/ir/index.js';
import { branch, ifNode, node } from './helpers.js';

/** x → A → a → B → b (output); w is an initializer read by A. */
function chain(): Graph {
  const g = new Graph('g');
  g.inputs = [{ name: 'x', type: tensorType(DataType.FLOAT, [2]) }];
  g.outputs = [{ name: 'b', type: tensorType(DataType.FLOAT, [2]) }];
  g.initializers.set('w', Tensor.float32('w', [2], [1, 2]));
  g.nodes = [node('Add', ['x', 'w'], ['a'], 'A'), node('Relu', ['a'], ['b'], 'B')];
  return g;
}

describe('Graph index', () => {
  it('finds producers and consumers', () => {
    const g = chain();
    const [A, B] = g.nodes;
    expect(g.producer('a')).toBe(A);
    expect(g.producer('b')).toBe(B);
    expect(g.producer('x')).toBeUndefined();
    expect(g.producer('w')).toBeUndefined();
    expect(g.consumers('x')).toEqual([A]);
    expect(g.consumers('w')).toEqual([A]);
    expect(g.consumers('a')).toEqual([B]);
    expect(g.consumers('b')).toEqual([]);
    expect(g.consumers('nope')).toEqual([]);
  });

  it('lists a node once even if it reads a value twice', () => {
    const g = new Graph();
    g.inputs = [{ name: 'x' }];
    g.nodes = [node('Mul', ['x', 'x'], ['y'], 'M')];
    expect(g.consumers('x')).toHaveLength(1);
  });

  it('needs touch() after direct edits and is rebuilt by the mutators', () => {
    const g = chain();
    const [A, B] = g.nodes;
    expect(g.consumers('a')).toEqual([B]);
    B.inputs[0] = 'x';
    expect(g.consumers('a')).toEqual([B]); // stale until touched
    g.touch();
    expect(g.consumers('a')).toEqual([]);
    expect(g.consumers('x')).toEqual([A, B]);
    g.removeNode(A);
    expect(g.producer('a')).toBeUndefined();
  });

  it('counts a node holding a subgraph as consumer of the names the subgraph reads from outside', () => {
    const g = new Graph('outer');
    g.inputs = [{ name: 'c' }, { name: 'x' }];
    const thenG = branch(g, 'then', [node('Relu', ['x'], ['t'], 'T')], ['t']);
    const elseG = branch(g, 'else', [], ['x']); // output is the outer value itself
    const iff = ifNode('If', 'c', thenG, elseG, ['y']);
    g.nodes = [node('Neg', ['x'], ['nx'], 'N'), iff];
    g.outputs = [{ name: 'y' }];
    expect(thenG.freeNames()).toEqual(new Set(['x']));
    expect(elseG.freeNames()).toEqual(new Set(['x']));
    expect(g.consumers('x').map((n) => n.name)).toEqual(['N', 'If']);
    expect(g.consumers('c').map((n) => n.name)).toEqual(['If']);
    // names defined inside the subgraph do not leak out
    expect(g.consumers('t')).toEqual([]);
    expect(g.freeNames()).toEqual(new Set());
  });

  it('freeNames looks through nested subgraphs but not at names they define', () => {
    const g = new Graph('outer');
    g.inputs = [{ name: 'c' }, { name: 'x' }, { name: 'z' }];
    const mid = new Graph('mid');
    mid.parent = g;
    const inner = branch(mid, 'inner', [node('Add', ['m', 'z'], ['i'], 'I')], ['i']);
    const innerElse = branch(mid, 'innerElse', [], ['m']);
    mid.nodes = [node('Relu', ['x'], ['m'], 'R'), ifNode('If2', 'c', inner, innerElse, ['o'])];
    mid.outputs = [{ name: 'o' }];
    expect(inner.freeNames()).toEqual(new Set(['m', 'z']));
    expect(mid.freeNames()).toEqual(new Set(['x', 'c', 'z']));
    const iff = ifNode('If1', 'c', mid, branch(g, 'e', [], ['x']), ['y']);
    g.nodes = [iff];
    g.outputs = [{ name: 'y' }];
    expect(g.consumers('z')).toEqual([iff]);
    expect(g.consumers('m')).toEqual([]);
    expect([...g.allNodes()].map((e) => e.node.name)).toEqual(['If1', 'R', 'If2', 'I']);
    expect(g.definedNames()).toEqual(new Set(['c', 'x', 'z', 'y']));
  });
});

describe('uniqueName / addInitializer', () => {
  it('returns the base when free, then numbered variants, and reserves them', () => {
    const g = chain();
    expect(g.uniqueName('fresh')).toBe('fresh');
    expect(g.uniqueName('fresh')).toBe('fresh_1');
    expect(g.uniqueName('fresh')).toBe('fresh_2');
    // value names, node names, initializers, inputs are all taken
    expect(g.uniqueName('a')).toBe('a_1');
    expect(g.uniqueName('A')).toBe('A_1');
    expect(g.uniqueName('w')).toBe('w_1');
    expect(g.uniqueName('x')).toBe('x_1');
  });

  it('shares one namespace between a graph and its subgraphs', () => {
    const g = new Graph('outer');
    g.inputs = [{ name: 'c' }, { name: 'x' }];
    const thenG = branch(g, 'then', [node('Relu', ['x'], ['inner'], 'innerNode')], ['inner']);
    g.nodes = [ifNode('If', 'c', thenG, branch(g, 'else', [], ['x']), ['y'])];
    expect(g.uniqueName('inner')).toBe('inner_1');
    expect(thenG.uniqueName('innerNode')).toBe('innerNode_1');
    // a name reserved through the subgraph is taken in the root too
    expect(thenG.uniqueName('k')).toBe('k');
    expect(g.uniqueName('k')).toBe('k_1');
  });

  it('sees names added by direct edits after touch(), and names of nodes added through the API', () => {
    const g = chain();
    expect(g.uniqueName('warm')).toBe('warm'); // the name cache exists now
    g.nodes.push(node('Relu', ['b'], ['direct_out'], 'direct_node'));
    g.initializers.set('direct_init', Tensor.float32('direct_init', [1], [0]));
    g.touch();
    expect(g.uniqueName('direct_out')).toBe('direct_out_1');
    expect(g.uniqueName('direct_node')).toBe('direct_node_1');
    expect(g.uniqueName('direct_init')).toBe('direct_init_1');
    // outputs of a node added with addNode are taken at once
    g.addNode(node('Neg', ['b'], ['api_out']));
    expect(g.uniqueName('api_out')).toBe('api_out_1');
    // edits in a subgraph followed by touch() on the subgraph count for the whole model
    const sub = branch(g, 'sub', [], ['b']);
    g.addNode(ifNode('If', 'x', sub, branch(g, 'e', [], ['b']), ['y']));
    sub.nodes.push(node('Abs', ['b'], ['deep'], 'deepNode'));
    sub.touch();
    expect(g.uniqueName('deep')).toBe('deep_1');
    // reservations survive a rescan
    expect(g.uniqueName('warm')).toBe('warm_1');
  });

  it('addInitializer renames on collision and returns the name', () => {
    const g = chain();
    const t = Tensor.float32('w', [1], [3]);
    const name = g.addInitializer(t);
    expect(name).toBe('w_1');
    expect(t.name).toBe('w_1');
    expect(g.initializers.get('w_1')).toBe(t);
    expect(g.initializers.get('w')!.data[0]).toBe(1);
    expect(g.addInitializer(new Tensor('', DataType.INT64, [0]))).toBe('const');
  });
});

describe('addNode / makeNode / replaceNode / removeNode', () => {
  it('adds at the end, before, or after a node, naming unnamed nodes', () => {
    const g = chain();
    const [A, B] = g.nodes;
    const n1 = g.addNode(node('Identity', ['b'], ['c']));
    expect(n1.name).toBe('Identity');
    expect(g.nodes.at(-1)).toBe(n1);
    const n2 = g.addNode(node('Identity', ['x'], ['d']), { before: A });
    expect(n2.name).toBe('Identity_1');
    expect(g.nodes[0]).toBe(n2);
    const n3 = g.addNode(node('Identity', ['a'], ['e']), { after: A });
    expect(g.nodes.map((n) => n.name)).toEqual(['Identity_1', 'A', n3.name, 'B', 'Identity']);
    expect(g.producer('e')).toBe(n3);
    expect(g.consumers('a')).toEqual([n3, B]);
  });

  it('renames a node whose name another node already has', () => {
    const g = chain();
    const n = g.addNode(node('Relu', ['b'], ['c'], 'A'));
    expect(n.name).not.toBe('A');
    expect(new Set(g.nodes.map((x) => x.name)).size).toBe(3);
    // a name reserved with uniqueName (and not on a node) is kept
    const reserved = g.uniqueName('mine');
    expect(g.addNode(node('Relu', ['c'], ['d'], reserved)).name).toBe('mine');
  });

  it('throws INTERNAL when the anchor is not in the graph', () => {
    const g = chain();
    const stray = node('Relu', ['x'], ['q'], 'stray');
    expect(() => g.addNode(node('Relu', ['x'], ['r']), { before: stray })).toThrow(MlcError);
    expect(() => g.replaceNode(stray, [])).toThrow(/not in graph/);
  });

  it('makeNode creates a node with a unique name from opts.name', () => {
    const g = chain();
    const n = g.makeNode('Sigmoid', ['b'], ['s'], [], { name: 'A', domain: 'com.example' });
    expect(n.name).toBe('A_1');
    expect(n.domain).toBe('com.example');
    expect(g.producer('s')).toBe(n);
  });

  it('replaceNode splices the new nodes in place and updates the index', () => {
    const g = chain();
    const [A, B] = g.nodes;
    const n1 = node('Mul', ['x', 'w'], ['m']);
    const n2 = node('Add', ['m', 'w'], ['a']);
    g.replaceNode(A, [n1, n2]);
    expect(g.nodes).toEqual([n1, n2, B]);
    expect(n1.name).toBe('Mul');
    expect(n2.name).not.toBe('A'); // 'A' is reserved by the old node
    expect(g.producer('a')).toBe(n2);
    expect(g.consumers('m')).toEqual([n2]);
    expect(g.consumers('w')).toEqual([n1, n2]);
  });

  it('removeNode drops the node and ignores nodes not in the graph', () => {
    const g = chain();
    const [A, B] = g.nodes;
    g.removeNode(B);
    expect(g.nodes).toEqual([A]);
    expect(g.consumers('a')).toEqual([]);
    g.removeNode(B);
    expect(g.nodes).toEqual([A]);
  });
});

describe('replaceAllUses', () => {
  it('renames readers here and in subgraphs, and graph outputs only when asked', () => {
    const g = new Graph('outer');
    g.inputs = [{ name: 'c' }, { name: 'x' }];
    const thenG = branch(g, 'then', [node('Relu', ['v'], ['t'], 'T')], ['t']);
    const elseG = branch(g, 'else', [], ['v']);
    g.nodes = [node('Neg', ['x'], ['v'], 'N'), node('Abs', ['x'], ['v2'], 'Ab'), ifNode('If', 'c', thenG, elseG, ['y'])];
    g.outputs = [{ name: 'y' }, { name: 'v' }];
    g.replaceAllUses('v', 'v2');
    expect(thenG.nodes[0].inputs).toEqual(['v2']);
    // a subgraph output naming the outer value follows it (subgraph outputs are positional)
    expect(elseG.outputs[0].name).toBe('v2');
    expect(g.outputs.map((o) => o.name)).toEqual(['y', 'v']);
    expect(g.consumers('v2').map((n) => n.name)).toEqual(['If']);
    g.replaceAllUses('v', 'v2', true);
    expect(g.outputs.map((o) => o.name)).toEqual(['y', 'v2']);
  });

  it('does not rename inside a subgraph that defines the name itself', () => {
    const g = new Graph('outer');
    g.inputs = [{ name: 'c' }, { name: 'x' }];
    const thenG = branch(g, 'then', [node('Relu', ['x'], ['v'], 'T'), node('Neg', ['v'], ['t'], 'T2')], ['t']);
    g.nodes = [node('Neg', ['x'], ['v'], 'N'), ifNode('If', 'c', thenG, branch(g, 'else', [], ['v']), ['y'])];
    g.outputs = [{ name: 'y' }];
    g.replaceAllUses('v', 'w');
    expect(thenG.nodes[1].inputs).toEqual(['v']);
  });
});

describe('topoSort', () => {
  it('orders nodes so every input is produced first, keeping valid order stable', () => {
    const g = chain();
    const [A, B] = g.nodes;
    const C = node('Identity', ['x'], ['c'], 'C');
    g.nodes = [B, C, A];
    g.topoSort();
    expect(g.nodes).toEqual([C, A, B]);
    g.topoSort();
    expect(g.nodes).toEqual([C, A, B]);
  });

  it('accounts for names read inside subgraphs', () => {
    const g = new Graph('outer');
    g.inputs = [{ name: 'c' }, { name: 'x' }];
    const thenG = branch(g, 'then', [node('Relu', ['v'], ['t'], 'T')], ['t']);
    const iff = ifNode('If', 'c', thenG, branch(g, 'else', [], ['x']), ['y']);
    const N = node('Neg', ['x'], ['v'], 'N');
    g.nodes = [iff, N];
    g.outputs = [{ name: 'y' }];
    g.topoSort();
    expect(g.nodes).toEqual([N, iff]);
  });

  it('throws on a cycle', () => {
    const g = new Graph('g');
    g.inputs = [{ name: 'x' }];
    g.nodes = [node('Add', ['x', 'q'], ['p'], 'P'), node('Relu', ['p'], ['q'], 'Q')];
    expect(() => g.topoSort()).toThrow(/cycle/);
  });

  it('treats empty (missing optional) inputs as available', () => {
    const g = new Graph('g');
    g.inputs = [{ name: 'x' }];
    const b = node('Clip', ['a', '', 'mx'], ['b'], 'B');
    const a = node('Relu', ['x'], ['a'], 'A');
    const m = node('Constant', [], ['mx'], 'M');
    g.nodes = [b, a, m];
    g.topoSort();
    expect(g.nodes).toEqual([a, m, b]);
  });
});

describe('removeDeadNodes / removeUnusedInitializers', () => {
  it('removes chains of dead nodes, keeping outputs and subgraph reads alive', () => {
    const g = chain();
    const [A, B] = g.nodes;
    g.initializers.set('u', Tensor.float32('u', [1], [0]));
    const d1 = node('Mul', ['x', 'u'], ['d1'], 'D1');
    const d2 = node('Relu', ['d1'], ['d2'], 'D2');
    g.nodes.push(d1, d2);
    expect(g.removeDeadNodes()).toBe(2);
    expect(g.nodes).toEqual([A, B]);
    expect(g.producer('d1')).toBeUndefined();
    expect(g.removeUnusedInitializers()).toBe(1);
    expect([...g.initializers.keys()]).toEqual(['w']);
    expect(g.removeDeadNodes()).toBe(0);
    expect(g.removeUnusedInitializers()).toBe(0);
  });

  it('keeps values a subgraph reads', () => {
    const g = new Graph('outer');
    g.inputs = [{ name: 'c' }, { name: 'x' }];
    g.initializers.set('k', Tensor.float32('k', [1], [2]));
    const thenG = branch(g, 'then', [node('Mul', ['v', 'k'], ['t'], 'T')], ['t']);
    const N = node('Neg', ['x'], ['v'], 'N');
    g.nodes = [N, ifNode('If', 'c', thenG, branch(g, 'else', [], ['x']), ['y'])];
    g.outputs = [{ name: 'y' }];
    expect(g.removeDeadNodes()).toBe(0);
    expect(g.removeUnusedInitializers()).toBe(0);
  });

  it('removes an unused initializer listed as a graph input with its input entry, keeps real inputs', () => {
    const g = chain();
    g.initializers.set('opt', Tensor.float32('opt', [1], [0]));
    g.inputs.push({ name: 'opt', type: tensorType(DataType.FLOAT, [1]) });
    g.inputs.push({ name: 'unusedReal', type: tensorType(DataType.FLOAT, [1]) });
    expect(g.removeUnusedInitializers()).toBe(1);
    expect(g.initializers.has('opt')).toBe(false);
    expect(g.inputs.map((i) => i.name)).toEqual(['x', 'unusedReal']);
  });
});

describe('constantValue / valueInfoOf', () => {
  it('reads initializers, Constant nodes and the enclosing scope, not overridable inputs', () => {
    const b = new ModelBuilder();
    const x = b.input('x', DataType.FLOAT, [2]);
    const w = b.init('w', [2], [1, 2]);
    const s = b.op('Add', [x, w]);
    b.output(s, DataType.FLOAT, [2]);
    const g = b.build().graph;
    expect(g.constantValue(w)!.data).toEqual(new Float32Array([1, 2]));
    expect(g.constantValue(x)).toBeUndefined();
    const cval = Tensor.float32('cv', [1], [7]);
    g.makeNode('Constant', [], ['cst'], [{ name: 'value', type: 4, value: cval }]);
    expect(g.constantValue('cst')).toBe(cval);
    g.inputs.push({ name: w });
    expect(g.constantValue(w)).toBeUndefined();
    const sub = new Graph('sub');
    sub.parent = g;
    expect(sub.constantValue('cst')).toBe(cval);
    expect(g.valueInfoOf('x')!.name).toBe('x');
  });
});
