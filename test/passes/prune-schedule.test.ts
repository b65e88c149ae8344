/**
 * Gradual pruning (--prune-schedule): the schedule's forms and rules, and a run that alternates
 * pruning steps with distillation rounds on a tiny model (zeros of one step stay zero in the next).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cloneModel } from '../../src/ir/index.js';
import { type Dataset, type PassContext, seededRng, silentLogger } from '../../src/passes/pass.js';
import { parsePruneOptions, parseSchedule, prunePass, runPrune } from '../../src/passes/prune.js';
import { makeRunner } from '../../src/runtime/index.js';
import { mlp, randn, rng } from './prune-helpers.js';

const runner = makeRunner();
afterAll(() => runner.release());
const fail = (p: string): never => {
  throw new Error(p);
};

describe('prune schedule options', () => {
  it('lists and cubic schedules', () => {
    expect(parseSchedule('0.5,0.8,90%,0.95', fail)).toEqual([0.5, 0.8, 0.9, 0.95]);
    // s_i = s_f·(1 − (1 − i/n)³)
    const c = parseSchedule('cubic:0.95:4', fail);
    expect(c).toEqual([0.95 * (1 - 0.75 ** 3), 0.95 * (1 - 0.5 ** 3), 0.95 * (1 - 0.25 ** 3), 0.95].map((x) => expect.closeTo(x, 6)));
    expect(() => parseSchedule('0.8,0.5', fail)).toThrow(/decrease/);
    expect(() => parseSchedule('0.5,1.2', fail)).toThrow(/\[0, 1\)/);
    expect(() => parseSchedule('cubic:1.5:4', fail)).toThrow(/cubic/);
    expect(() => parseSchedule('linear:0.9:3', fail)).toThrow(/cubic/);
  });

  it('the last step is the sparsity; unstructured only; the flag asks for the pass', () => {
    expect(parsePruneOptions({ schedule: '0.5,0.9' })).toMatchObject({ sparsity: 0.9, schedule: [0.5, 0.9], scheduleEpochs: 1 });
    expect(parsePruneOptions({ schedule: '0.5,0.9', sparsity: 0.9 }).sparsity).toBe(0.9);
    expect(() => parsePruneOptions({ schedule: '0.5,0.9', sparsity: 0.8 })).toThrow(/last step/);
    expect(() => parsePruneOptions({ schedule: '0.5,0.9', pattern: 'channel' })).toThrow(/unstructured/);
    expect(() => parsePruneOptions({ schedule: 'x' })).toThrow(/schedule/);
    expect(parsePruneOptions({ sparsity: 0.5 }).schedule).toBeUndefined();
    const raw = prunePass.cli!.fromFlags({ pruneSchedule: 'cubic:0.9:3', pruneScheduleEpochs: '2' });
    expect(prunePass.parseOptions(raw)).toMatchObject({ sparsity: 0.9, scheduleEpochs: 2 });
  });
});

describe('gradual pruning', () => {
  it('needs training data', async () => {
    await expect(runPrune(mlp(), parsePruneOptions({ schedule: '0.5,0.7' }), { log: silentLogger, rng: seededRng(1), run: runner })).rejects.toThrow(/training data/);
  });

  it('prunes step by step with a distillation round after each; zeros stay; final sparsity exact', async () => {
    const teacher = mlp();
    const m = cloneModel(teacher);
    const train: Dataset = { inputs: { input: { dtype: 'float', dims: [96, 16], data: randn(96 * 16, rng(3)) } }, count: 96 };
    const ctx: PassContext = { log: silentLogger, rng: seededRng(2), run: runner, train, original: teacher };
    const r = await runPrune(m, parsePruneOptions({ schedule: '0.3,0.6', scheduleEpochs: 2 }), ctx);
    expect(r.modified).toBe(true);
    expect(r.stats).toMatchObject({ schedule: '0.3,0.6', scheduleEpochs: 2, sparsity: 0.6 });
    const steps = r.details!.filter((d) => 'step' in d);
    expect(steps.map((d) => d.sparsity)).toEqual([0.3, 0.6]);
    // exactly 60 % of the prunable weights are zero at the end
    let zeros = 0;
    let total = 0;
    for (const w of ['w1', 'w2', 'w3']) {
      const d = m.graph.initializers.get(w)!.data as Float32Array;
      total += d.length;
      zeros += d.filter((v) => v === 0).length;
    }
    expect(zeros).toBe(Math.round(0.6 * total));
  });
});
