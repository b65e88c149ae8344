/**
 * Typed errors. Library code throws these; only the CLI turns them into a line on stderr and an
 * exit code (see src/cli/run.ts).
 */
export type ErrorCode =
  | 'USAGE' // bad flags or option values                               → exit 2
  | 'INPUT' // unreadable / invalid input file or data                  → exit 2
  | 'OUTPUT' // cannot write the output                                 → exit 2
  | 'UNSUPPORTED' // a feature the model needs that mlc does not handle → exit 2
  | 'PASS_BROKE_MODEL' // a pass produced a model ORT rejects (a bug)   → exit 3
  | 'INTERNAL'; //                                                       → exit 3

export class MlcError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'MlcError';
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof MlcError) {
    return err.code === 'INTERNAL' || err.code === 'PASS_BROKE_MODEL' ? 3 : 2;
  }
  return 3;
}
