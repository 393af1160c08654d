/**
 * Advisory folder locks: one process at a time trains into a run folder or writes an output. A
 * lock is a small JSON file created exclusively (`createNew`), whose holder touches it every
 * {@link LOCK_REFRESH_MS}. A lock whose process has died (a `kill -9`, a power cut) is taken over:
 * at once where the pid can be checked (`/proc`, with `--allow-all`), else once it has not been
 * touched for {@link LOCK_STALE_MS}.
 *
 * @module
 */
import { InputError } from "../checks.ts";
import { processAlive } from "./atomic.ts";

/** How often a holder touches its lock file. */
export const LOCK_REFRESH_MS = 5_000;

/** A lock untouched for this long belongs to a process that is gone. */
export const LOCK_STALE_MS = 30_000;

/** Another live process holds the lock. */
export class LockedError extends InputError {
  /**
   * Creates the error.
   *
   * @param message which path, which process
   */
  constructor(message: string) {
    super(message);
    this.name = "LockedError";
  }
}

/** What a lock file holds. */
export interface LockInfo {
  /** The holder's process id. */
  pid: number;
  /** What it is doing, e.g. `"train-small"`. */
  purpose: string;
  /** When it took the lock (ISO time). */
  since: string;
}

/** A held lock. */
export interface Lock {
  /** The lock file. */
  path: string;
  /** Removes the lock file (once; later calls do nothing). */
  release(): void;
}

function readInfo(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(Deno.readTextFileSync(path));
    return Number.isInteger(info?.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

function tryCreate(path: string, info: LockInfo): boolean {
  try {
    Deno.writeTextFileSync(path, JSON.stringify(info), { createNew: true });
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.AlreadyExists) return false;
    throw error;
  }
}

/**
 * Takes the lock file `path` for this process, or throws {@link LockedError} naming the live
 * process that holds it. A stale lock (its process is gone, or its file unreadable for over a
 * minute) is moved aside and replaced; if two processes race for it, exactly one wins.
 *
 * @param path the lock file (its folder must exist)
 * @param purpose what this process is doing, shown to a second process
 * @returns the held lock
 */
export function acquireLock(path: string, purpose: string): Lock {
  const info: LockInfo = { pid: Deno.pid, purpose, since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(path, info)) return heldLock(path);
    const holder = readInfo(path);
    let age = 0;
    try {
      age = Date.now() - (Deno.statSync(path).mtime?.getTime() ?? Date.now());
    } catch { /* gone: retry */ }
    // Unreadable: written by createNew and not yet filled, or damaged; stale only once old.
    const alive = holder === undefined ? undefined : processAlive(holder.pid);
    const stale = alive === false || age > LOCK_STALE_MS;
    if (!stale) {
      throw new LockedError(
        holder
          ? `${path} is held by process ${holder.pid} (${holder.purpose}, since ${holder.since}); ` +
            `wait for it to finish or use another folder (a lock of a killed process is taken ` +
            `over ${LOCK_STALE_MS / 1000} s after its last refresh)`
          : `${path} is being taken by another process; try again in a moment`,
      );
    }
    // Move the stale lock aside under a name of our own, then check that it was the stale one.
    const aside = `${path}.stale-${Deno.pid}`;
    try {
      Deno.renameSync(path, aside);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    const moved = readInfo(aside);
    if (holder !== undefined && moved !== undefined && moved.pid !== holder.pid) {
      // A live process took the lock between our read and our rename: give it back.
      Deno.renameSync(aside, path);
      continue;
    }
    Deno.removeSync(aside);
  }
  throw new LockedError(`${path}: could not take the lock after 3 attempts; try again`);
}

function heldLock(path: string): Lock {
  let held = true;
  const refresh = setInterval(() => {
    try {
      const now = new Date();
      Deno.utimeSync(path, now, now);
    } catch { /* removed by hand: nothing to refresh */ }
  }, LOCK_REFRESH_MS);
  Deno.unrefTimer(refresh);
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      clearInterval(refresh);
      try {
        if (readInfo(path)?.pid === Deno.pid) Deno.removeSync(path);
      } catch { /* already gone */ }
    },
  };
}

/**
 * Runs `fn` while holding the lock file `path`, and releases it after (also on error).
 *
 * @param path the lock file
 * @param purpose what this process is doing
 * @param fn the work
 * @returns what `fn` returns
 */
export async function withLock<T>(path: string, purpose: string, fn: () => Promise<T>): Promise<T> {
  const lock = acquireLock(path, purpose);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
