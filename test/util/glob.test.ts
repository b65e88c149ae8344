import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { expandBraces, expandGlob, globBase, hasGlob, matchGlob } from '../../src/util/glob.js';
import { tempDir } from '../cli/helpers.js';

let root: string;

beforeAll(() => {
  root = tempDir('mlc-glob-');
  for (const f of ['a.onnx', 'b.onnx', 'b.txt', 'us/eta.onnx', 'us/fraud.onnx', 'de/x/eta.onnx', '.hidden/h.onnx', 'us/.dot.onnx', 'c[1].onnx']) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
  }
});

describe('glob', () => {
  it('tells globs from paths', () => {
    expect(hasGlob('models/*.onnx')).toBe(true);
    expect(hasGlob('models/{a,b}.onnx')).toBe(true);
    expect(hasGlob('models/a.onnx')).toBe(false);
  });

  it('expands braces, nested ones too', () => {
    expect(expandBraces('m/{a,b}.onnx')).toEqual(['m/a.onnx', 'm/b.onnx']);
    expect(expandBraces('{x,y/{1,2}}.z')).toEqual(['x.z', 'y/1.z', 'y/2.z']);
    expect(expandBraces('no{brace')).toEqual(['no{brace']);
  });

  it('matches * and ? within a segment, ** across folders, and skips dot names', () => {
    expect(matchGlob('*.onnx', 'a.onnx')).toBe(true);
    expect(matchGlob('*.onnx', 'us/a.onnx')).toBe(false);
    expect(matchGlob('**/*.onnx', 'a.onnx')).toBe(true);
    expect(matchGlob('**/*.onnx', 'de/x/eta.onnx')).toBe(true);
    expect(matchGlob('**/*.onnx', '.hidden/h.onnx')).toBe(false);
    expect(matchGlob('?.onnx', 'ab.onnx')).toBe(false);
    expect(matchGlob('[ab].onnx', 'b.onnx')).toBe(true);
    expect(matchGlob('[!ab].onnx', 'b.onnx')).toBe(false);
    expect(matchGlob('*.onnx', '.dot.onnx')).toBe(false);
    expect(matchGlob('.*.onnx', '.dot.onnx')).toBe(true);
  });

  it('expands against the file system, sorted, spelled like the pattern', () => {
    expect(expandGlob('**/*.onnx', root)).toEqual(['a.onnx', 'b.onnx', 'c[1].onnx', 'de/x/eta.onnx', 'us/eta.onnx', 'us/fraud.onnx']);
    expect(expandGlob('*/eta.onnx', root)).toEqual(['us/eta.onnx']);
    expect(expandGlob('**/eta.onnx', root)).toEqual(['de/x/eta.onnx', 'us/eta.onnx']);
    expect(expandGlob('{a,b}.*', root)).toEqual(['a.onnx', 'b.onnx', 'b.txt']);
    expect(expandGlob(`${root}/us/*.onnx`)).toEqual([`${root}/us/eta.onnx`, `${root}/us/fraud.onnx`]);
    expect(expandGlob('./us/*.onnx', root)).toEqual(['./us/eta.onnx', './us/fraud.onnx']);
    expect(expandGlob('nothing/**/*.onnx', root)).toEqual([]);
    // a literal path gives itself when it is a file
    expect(expandGlob('us/eta.onnx', root)).toEqual(['us/eta.onnx']);
    expect(expandGlob('us', root)).toEqual([]);
  });

  it('gives the fixed folder before the first wildcard', () => {
    expect(globBase('models/**/*.onnx')).toBe('models');
    expect(globBase('models/us/*.onnx')).toBe('models/us');
    expect(globBase('*.onnx')).toBe('');
    expect(globBase('models/a.onnx')).toBe('models');
  });
});
