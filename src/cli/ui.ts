/**
 * Console output for the CLI (the only place in mlc that prints): results on stdout, progress /
 * warnings / errors on stderr. Colour only when the stream is a TTY and neither NO_COLOR nor
 * --no-color says otherwise; progress only on a TTY stderr and not with --quiet; with --json,
 * stdout carries exactly one JSON document.
 */
import pc from 'picocolors';
import { CommanderError } from 'commander';
import { MlcError, exitCodeFor } from '../core/errors.js';
import type { Logger } from '../core/types.js';

type Colors = ReturnType<typeof pc.createColors>;

export interface GlobalFlags {
  verbose?: boolean;
  quiet?: boolean;
  color?: boolean;
  json?: boolean;
}

export class Ui {
  readonly verbose: boolean;
  readonly quiet: boolean;
  readonly json: boolean;
  /** colours for stdout */
  readonly c: Colors;
  /** colours for stderr */
  readonly ce: Colors;
  private readonly progressOn: boolean;
  private progressShown = false;
  /** MLC_TRACE=1: every progress message as its own stderr line, with the seconds since start */
  private readonly trace: boolean;

  constructor(flags: GlobalFlags, env: NodeJS.ProcessEnv = process.env) {
    this.verbose = !!flags.verbose;
    this.quiet = !!flags.quiet;
    this.json = !!flags.json;
    const allowed = flags.color !== false && !('NO_COLOR' in env && env.NO_COLOR !== '');
    this.c = pc.createColors(allowed && !this.json && !!process.stdout.isTTY);
    this.ce = pc.createColors(allowed && !!process.stderr.isTTY);
    this.progressOn = !this.quiet && !!process.stderr.isTTY;
    this.trace = !!env.MLC_TRACE && env.MLC_TRACE !== '0';
  }

  /** A line of results on stdout (not in --json mode: use `printJson`). */
  out(line = ''): void {
    process.stdout.write(line + '\n');
  }

  printJson(doc: unknown): void {
    process.stdout.write(JSON.stringify(doc, jsonReplacer, 2) + '\n');
  }

  /**
   * Progress on stderr: only on a TTY and without --quiet; each message replaces the last. With
   * MLC_TRACE=1 each message is a line of its own, stamped with the process's uptime (where a slow
   * run spends its time).
   */
  progress(msg: string): void {
    if (this.trace) {
      this.clearProgress();
      process.stderr.write(`mlc: [${process.uptime().toFixed(2)} s] ${msg}\n`);
      return;
    }
    if (!this.progressOn) return;
    process.stderr.write('\r\x1b[2K' + this.ce.dim(msg));
    this.progressShown = true;
  }

  clearProgress(): void {
    if (this.progressShown) process.stderr.write('\r\x1b[2K');
    this.progressShown = false;
  }

  warn(msg: string): void {
    if (this.quiet) return;
    this.clearProgress();
    process.stderr.write(`${this.ce.yellow('mlc: warning:')} ${msg}\n`);
  }

  info(msg: string): void {
    if (this.quiet) return;
    this.clearProgress();
    process.stderr.write(`${msg}\n`);
  }

  debug(msg: string): void {
    if (!this.verbose) return;
    this.clearProgress();
    process.stderr.write(this.ce.dim(msg) + '\n');
  }

  /** Logger handed to passes: info/warn on stderr (not --quiet), debug only with --verbose. */
  logger(): Logger {
    return { info: (m) => this.info(m), warn: (m) => this.warn(m), debug: (m) => this.debug(m) };
  }

  /** Report an error: one line on stderr (+ stack with --verbose), a JSON error document with --json. */
  error(err: unknown): number {
    this.clearProgress();
    const code = errorCode(err);
    const message = errorMessage(err);
    const bug = code === 'INTERNAL' || code === 'PASS_BROKE_MODEL';
    const hint = bug && !this.verbose ? ' (a bug in mlc; --verbose shows the stack)' : '';
    process.stderr.write(`${this.ce.red('mlc:')} ${message}${hint}\n`);
    if (this.verbose) {
      for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
        if (e.stack) process.stderr.write((depth ? 'caused by: ' : '') + e.stack + '\n');
      }
    }
    if (this.json) this.printJson({ error: { code, message } });
    return exitCodeOf(err);
  }
}

/** BigInt-safe, typed-array-friendly JSON. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

export function errorCode(err: unknown): string {
  if (err instanceof MlcError) return err.code;
  if (err instanceof CommanderError) return 'USAGE';
  return 'INTERNAL';
}

function oneLine(s: string): string {
  return s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' ');
}

export function errorMessage(err: unknown): string {
  if (err instanceof MlcError) return oneLine(err.message);
  if (err instanceof CommanderError) return oneLine(err.message.replace(/^error: /, ''));
  if (err instanceof Error) return `internal error: ${oneLine(err.message || err.name)}`;
  return `internal error: ${oneLine(String(err))}`;
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  return exitCodeFor(err);
}
