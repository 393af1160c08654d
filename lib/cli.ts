/**
 * Command-line helpers shared by the tasks and the benchmarks: strict flag parsing and one clear
 * line with exit code 2 for bad input. Programs import this module; the library never does.
 *
 * @module
 */
import { InputError } from "./checks.ts";
import { parseArgs } from "node:util";

/** Bad input from the command line: printed as one line, exit code 2. */
export class UsageError extends InputError {
  /** @param message what was wrong and what is allowed */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A flag's description for parsing and `--help`. */
export interface FlagSpec {
  /** `string` or `boolean`. */
  type: "string" | "boolean";
  /** Help text. */
  help: string;
  /** The default, shown in help. */
  default?: string;
}

/**
 * Parses flags strictly: unknown flags and stray positionals are {@link UsageError}s.
 *
 * @param args the arguments
 * @param spec the flags
 * @returns the values given (defaults are the caller's)
 */
export function parseFlags(
  args: string[],
  spec: Record<string, FlagSpec>,
): Record<string, string | boolean | undefined> {
  try {
    const { values } = parseArgs({
      args: attachNegativeValues(args, spec),
      options: Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, { type: v.type }])),
      strict: true,
      allowPositionals: false,
    });
    return values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError(`${(error as Error).message.split("\n")[0]} (see --help)`);
  }
}

/**
 * `--steps -5` would read as two flags; join a negative number to its string flag (`--steps=-5`)
 * so that the range check, not the parser, answers it.
 */
function attachNegativeValues(args: string[], spec: Record<string, FlagSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const name = args[i].startsWith("--") ? args[i].slice(2) : undefined;
    const next = args[i + 1];
    if (name && spec[name]?.type === "string" && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${args[i]}=${next}`);
      i++;
    } else out.push(args[i]);
  }
  return out;
}

/**
 * Help text for a task.
 *
 * @param usage the usage line
 * @param spec the flags
 * @returns the text
 */
export function helpText(usage: string, spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([name, s]) => {
    const flag = `--${name}${s.type === "string" ? " VALUE" : ""}`;
    return `  ${flag.padEnd(26)} ${s.help}${
      s.default !== undefined ? ` (default ${s.default})` : ""
    }`;
  });
  return `${usage}\n\n${rows.join("\n")}`;
}

const INTEGER_TEXT = /^[-+]?\d+$/;
const NUMBER_TEXT = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

function rangeFlag(
  kind: "integer" | "number",
  [name, value, fallback, min, max]: [string, unknown, number, number, number],
): number {
  if (value === undefined) return fallback;
  // Decimal text only: Number() would also take "0x3", " 5 " and, for integers, "1e1".
  const pattern = kind === "integer" ? INTEGER_TEXT : NUMBER_TEXT;
  const n = typeof value === "string" && pattern.test(value) ? Number(value) : NaN;
  const valid = kind === "integer" ? Number.isInteger(n) : Number.isFinite(n);
  if (!valid || n < min || n > max) {
    throw new UsageError(
      `--${name} must be ${
        kind === "integer" ? "an integer" : "a number"
      } in [${min}, ${max}]; got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/**
 * Reads an integer flag in a range.
 *
 * @param name the flag
 * @param value its text (or undefined)
 * @param fallback the default
 * @param min smallest allowed
 * @param max largest allowed
 * @returns the integer
 */
export function intFlag(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  return rangeFlag("integer", [name, value, fallback, min, max]);
}

/**
 * Reads a number flag in a range.
 *
 * @param name the flag
 * @param value its text (or undefined)
 * @param fallback the default
 * @param min smallest allowed
 * @param max largest allowed
 * @returns the number
 */
export function numberFlag(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  return rangeFlag("number", [name, value, fallback, min, max]);
}

/**
 * Reads a flag that must be one of some values.
 *
 * @param name the flag
 * @param value its text (or undefined)
 * @param fallback the default
 * @param allowed the allowed values
 * @returns the value
 */
export function choiceFlag<T extends string>(
  name: string,
  value: unknown,
  fallback: T,
  allowed: readonly T[],
): T {
  if (value === undefined) return fallback;
  if (typeof value === "string" && (allowed as readonly string[]).includes(value)) {
    return value as T;
  }
  throw new UsageError(
    `--${name} must be one of ${allowed.join(", ")}; got ${JSON.stringify(value)}`,
  );
}

/**
 * Runs a check from `lib` on flag values, turning its `RangeError` (which names the value and what
 * is allowed) into a {@link UsageError} that starts with `prefix`.
 *
 * @param prefix what the message starts with (the flag, or the file)
 * @param check the check
 * @returns what the check returns
 */
export function usageFrom<T>(prefix: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(prefix + error.message);
    throw error;
  }
}

/**
 * The exit code and one-line message for an error that ends a program, or undefined for a bug (an
 * error that should show its stack and exit 1). 2: the user's input, an {@link InputError} (flags,
 * files, a folder in use, a missing backend) or an operating-system error about a path the user
 * gave; 1: the environment (a full disk, a failing device, any other operating-system error).
 *
 * @param error what was thrown
 * @returns the code and message, or undefined
 */
export function exitFor(error: unknown): { code: 1 | 2; message: string } | undefined {
  const message = (error as Error)?.message ?? String(error);
  if (error instanceof InputError) return { code: 2, message };
  for (const kind of PATH_ERRORS) {
    if (error instanceof Deno.errors[kind]) return { code: 2, message };
  }
  if (error instanceof Error && typeof (error as { code?: unknown }).code === "string") {
    return { code: 1, message };
  }
  return undefined;
}

/** Operating-system errors that come from a path the user gave. */
const PATH_ERRORS = [
  "PermissionDenied",
  "NotFound",
  "NotADirectory",
  "IsADirectory",
  "AlreadyExists",
  "InvalidData",
  "FilesystemLoop",
] as const;

/**
 * Runs a program's main function: input errors print one line and exit 2, environment errors (a
 * full disk) one line and exit 1; anything else is a bug and prints its stack (exit 1).
 *
 * @param main the program
 */
export async function runTask(main: () => Promise<number | void>): Promise<void> {
  try {
    const code = await main();
    Deno.exit(code ?? 0);
  } catch (error) {
    const exit = exitFor(error);
    if (exit === undefined) throw error;
    console.error(`error: ${exit.message.split("\n")[0]}`);
    Deno.exit(exit.code);
  }
}
