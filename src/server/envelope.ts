import type { ErrorCode, FieldProblem } from "../core/errors.ts";

/** The SPEC §4 envelope around every /api/v1 answer. */
export interface Success<T> {
  success: true;
  data: T;
  error: null;
}

export interface Failure {
  success: false;
  data: null;
  error: { code: ErrorCode; message: string; details?: FieldProblem[] };
}

export function ok<T>(data: T): Success<T> {
  return { success: true, data, error: null };
}

export function failure(code: ErrorCode, message: string, details?: FieldProblem[]): Failure {
  return { success: false, data: null, error: details ? { code, message, details } : { code, message } };
}
