/**
 * Input validation shared by the maths layer. Every message names the offending value and what is
 * allowed, so that a user who passes bad input learns how to fix it from the error alone.
 *
 * @module
 */

/**
 * Bad input from a user (a flag, a file, a folder in use, a backend that is not installed), as
 * opposed to a bug: programs print its message as one line and exit with code 2. The project's
 * input errors (`UsageError`, `CheckpointError`, `DatasetFileError`, `LockedError`,
 * `BackendUnavailableError`) extend it.
 */
export class InputError extends Error {
  /**
   * Creates the error.
   *
   * @param message what was wrong and what is allowed
   */
  constructor(message: string) {
    super(message);
    this.name = "InputError";
  }
}

/** Formats a value for an error message: numbers in full, arrays abbreviated, strings quoted. */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") return Number.isNaN(value) ? "NaN" : String(value);
  if (Array.isArray(value)) {
    const head = value.slice(0, 6).map(show).join(", ");
    return `[${head}${value.length > 6 ? `, … (${value.length} items)` : ""}]`;
  }
  if (value === undefined) return "undefined";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Throws a `RangeError` unless `value` is an integer in `[min, max]`. */
export function checkInteger(name: string, value: unknown, min: number, max = Infinity): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw new RangeError(`${name} must be ${range}; got ${show(value)}`);
  }
  return value;
}

/** Throws a `RangeError` unless `value` is a finite number (optionally within `[min, max]`). */
export function checkFinite(name: string, value: unknown, min = -Infinity, max = Infinity): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    const range = min === -Infinity && max === Infinity
      ? "a finite number"
      : `a finite number in [${min}, ${max}]`;
    throw new RangeError(`${name} must be ${range}; got ${show(value)}`);
  }
  return value;
}

/** Throws a `RangeError` naming the first non-finite entry of `data`, if any. */
export function checkAllFinite(name: string, data: ArrayLike<number>): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new RangeError(
        `${name} must contain only finite numbers; entry ${i} is ${show(data[i])}`,
      );
    }
  }
}

/** Throws a `TypeError` unless `value` is one of `allowed`. */
export function checkOneOf<T extends string>(
  name: string,
  value: unknown,
  allowed: readonly T[],
): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw new TypeError(
      `${name} must be one of ${allowed.map((a) => JSON.stringify(a)).join(", ")}; got ${
        show(value)
      }`,
    );
  }
  return value as T;
}
