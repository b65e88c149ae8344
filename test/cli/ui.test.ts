import { afterEach, describe, expect, it } from 'vitest';
import { CommanderError } from 'commander';
import { MlcError } from '../../src/core/errors.js';
import { Ui, errorMessage, exitCodeOf } from '../../src/cli/ui.js';

const tty = { out: process.stdout.isTTY, err: process.stderr.isTTY };
function setTty(on: boolean) {
  (process.stdout as { isTTY?: boolean }).isTTY = on;
  (process.stderr as { isTTY?: boolean }).isTTY = on;
}
afterEach(() => {
  (process.stdout as { isTTY?: boolean }).isTTY = tty.out;
  (process.stderr as { isTTY?: boolean }).isTTY = tty.err;
});

describe('Ui colour', () => {
  it('colours a terminal unless NO_COLOR, --no-color or --json (stdout) say otherwise', () => {
    setTty(true);
    expect(new Ui({}, {}).c.bold('x')).not.toBe('x');
    expect(new Ui({}, {}).ce.red('x')).not.toBe('x');
    expect(new Ui({ color: false }, {}).c.bold('x')).toBe('x');
    expect(new Ui({}, { NO_COLOR: '1' }).c.bold('x')).toBe('x');
    expect(new Ui({}, { NO_COLOR: '' }).c.bold('x')).not.toBe('x'); // empty NO_COLOR does not count
    const j = new Ui({ json: true }, {});
    expect(j.c.bold('x')).toBe('x');
    expect(j.ce.red('x')).not.toBe('x');
  });

  it('never colours a pipe', () => {
    setTty(false);
    expect(new Ui({}, {}).c.bold('x')).toBe('x');
    expect(new Ui({}, {}).ce.red('x')).toBe('x');
  });
});

describe('MLC_TRACE', () => {
  it('prints every progress message as a stamped line, even on a pipe; nothing without it', () => {
    setTty(false);
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    (process.stderr as { write: unknown }).write = (c: string) => (writes.push(String(c)), true);
    try {
      new Ui({}, {}).progress('quiet');
      new Ui({}, { MLC_TRACE: '0' }).progress('off');
      const u = new Ui({}, { MLC_TRACE: '1' });
      u.progress('load...');
      u.progress('measuring');
    } finally {
      (process.stderr as { write: unknown }).write = orig;
    }
    expect(writes).toHaveLength(2);
    expect(writes[0]).toMatch(/^mlc: \[\d+\.\d\d s\] load\.\.\.\n$/);
    expect(writes[1]).toMatch(/^mlc: \[\d+\.\d\d s\] measuring\n$/);
  });
});

describe('error mapping', () => {
  it('maps error kinds to exit codes 2 (usage/input/output/unsupported) and 3 (bugs)', () => {
    for (const code of ['USAGE', 'INPUT', 'OUTPUT', 'UNSUPPORTED'] as const) expect(exitCodeOf(new MlcError(code, 'm'))).toBe(2);
    for (const code of ['INTERNAL', 'PASS_BROKE_MODEL'] as const) expect(exitCodeOf(new MlcError(code, 'm'))).toBe(3);
    expect(exitCodeOf(new TypeError('boom'))).toBe(3);
    expect(exitCodeOf(new CommanderError(1, 'commander.unknownOption', "error: unknown option '--x'"))).toBe(2);
  });

  it('makes one-line messages', () => {
    expect(errorMessage(new MlcError('INPUT', 'a\n  b\n'))).toBe('a b');
    expect(errorMessage(new CommanderError(1, 'c', "error: unknown option '--x'"))).toBe("unknown option '--x'");
    expect(errorMessage(new RangeError('index out of range'))).toBe('internal error: index out of range');
  });
});
