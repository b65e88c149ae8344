/** The recipes shipped in recipes/: valid JSON lists of registered passes with options they accept. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getPass } from '../../src/passes/registry.js';

const dir = join(__dirname, '../../recipes');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('recipes/', () => {
  it('has the Deep Compression recipes', () => {
    expect(files).toEqual(expect.arrayContaining(['deep-compression.json', 'deep-compression-cnn.json']));
  });
  for (const f of files) {
    it(`${f}: every step parses`, () => {
      const steps = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { pass: string; options?: unknown }[];
      expect(Array.isArray(steps) && steps.length > 0).toBe(true);
      for (const s of steps) expect(() => getPass(s.pass).parseOptions(s.options ?? {})).not.toThrow();
      // Deep Compression: prune gradually, then weight sharing with fine-tuning (then, optionally, minify)
      if (f.startsWith('deep-compression')) {
        expect(steps.map((s) => s.pass).filter((p) => p !== 'minify')).toEqual(['prune', 'distill', 'cluster']);
        expect(getPass('prune').parseOptions(steps[0].options).schedule.length).toBeGreaterThan(1);
        expect(getPass('cluster').parseOptions(steps[2].options).epochs).toBeGreaterThan(0);
      }
    });
  }
});
