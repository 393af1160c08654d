/**
 * Atomic file and directory writes: write beside the target, then rename, so that a reader never
 * sees a half-written file and an interrupted job leaves the previous version in place.
 *
 * A directory is replaced in two renames (`path` → `path.tmp-…old`, then `path.tmp-…` → `path`).
 * A process killed between them leaves no `path`, but both complete versions survive under their
 * temporary names: {@link locateDir} finds the newest complete one for a reader and
 * {@link recoverDir} puts it back in place for a writer. Temporaries of dead processes are removed
 * at the next write ({@link removeStaleTemporaries}).
 *
 * @module
 */
import { show } from "../checks.ts";

const TEMPORARY = /^(.*)\.tmp-(\d+)-([a-z0-9]+)(\.old)?$/;

function splitPath(path: string): { dir: string; base: string } {
  const trimmed = path.replace(/\/+$/, "") || "/";
  const at = trimmed.lastIndexOf("/");
  return at < 0
    ? { dir: ".", base: trimmed }
    : { dir: trimmed.slice(0, at) || "/", base: trimmed.slice(at + 1) };
}

function temporaryName(path: string): string {
  const { dir, base } = splitPath(path);
  if (base === "." || base === ".." || base === "") {
    throw new Deno.errors.InvalidData(`cannot write to ${show(path)}: name a folder`);
  }
  return `${dir}/${base}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 10)}`;
}

/**
 * Whether a process id is alive on this machine, where that can be known: it reads `/proc`
 * (Linux), which Deno opens only to a process run with `--allow-all`. Elsewhere, or without that
 * permission, it answers `undefined`.
 *
 * @param pid the process id
 * @returns true or false where known, else undefined
 */
export function processAlive(pid: number): boolean | undefined {
  if (pid === Deno.pid) return true;
  try {
    Deno.statSync("/proc/self");
  } catch {
    return undefined;
  }
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** A temporary whose process cannot be checked counts as abandoned after this long. */
export const STALE_AFTER_MS = 10 * 60_000;

interface Temporary {
  name: string;
  pid: number;
  id: string;
  old: boolean;
}

function temporariesOf(path: string): Temporary[] {
  const { dir, base } = splitPath(path);
  const found: Temporary[] = [];
  try {
    for (const entry of Deno.readDirSync(dir)) {
      const m = TEMPORARY.exec(entry.name);
      if (m && m[1] === base) {
        found.push({ name: `${dir}/${entry.name}`, pid: Number(m[2]), id: m[3], old: !!m[4] });
      }
    }
  } catch (error) {
    if (!isMissing(error)) throw error;
  }
  return found;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

/** Not there: no such entry, or a path that runs through a file. */
function isMissing(error: unknown): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory;
}

/**
 * The complete version of a directory written by {@link writeDirAtomic}: `path` itself, or, when
 * a process died between the two renames, the temporary that holds the newest complete content
 * (the new one when its `.old` partner exists, which proves it was filled; else the `.old` one).
 * Renames nothing, so a reader may call it while a writer works.
 *
 * @param path the directory
 * @returns the folder to read, or undefined when there is none
 */
export function locateDir(path: string): string | undefined {
  if (exists(path)) return path;
  const temporaries = temporariesOf(path);
  const olds = temporaries.filter((t) => t.old);
  for (const old of olds) {
    const filled = temporaries.find((t) => !t.old && t.id === old.id && t.pid === old.pid);
    if (filled) return filled.name;
  }
  return olds[0]?.name;
}

/**
 * Puts a directory back in place after a kill between {@link writeDirAtomic}'s two renames (see
 * {@link locateDir}). Call it only while holding the folder's lock.
 *
 * @param path the directory
 * @returns whether a version was restored
 */
export async function recoverDir(path: string): Promise<boolean> {
  const found = locateDir(path);
  if (found === undefined || found === path) return false;
  await Deno.rename(found, path);
  return true;
}

/**
 * Removes the temporaries that killed processes left beside `path`, after restoring a directory
 * lost between two renames. A temporary is stale when its process is known to be gone, or, where
 * that cannot be known, when it is older than {@link STALE_AFTER_MS}; with `locked` (the caller
 * holds the lock of the folder, so no other process writes there) every other process's temporary
 * is stale.
 *
 * @param path the file or directory whose temporaries to remove
 * @param options `locked`: the caller holds the folder's lock
 * @returns the names removed
 */
export async function removeStaleTemporaries(
  path: string,
  options: { locked?: boolean } = {},
): Promise<string[]> {
  if (options.locked) await recoverDir(path);
  const removed: string[] = [];
  for (const t of temporariesOf(path)) {
    if (t.pid === Deno.pid) continue;
    let stale = options.locked || processAlive(t.pid) === false;
    if (!stale) {
      const modified = Deno.statSync(t.name).mtime?.getTime() ?? Date.now();
      stale = Date.now() - modified > STALE_AFTER_MS;
    }
    if (!stale) continue;
    // A lost directory's only copies are never removed, whatever their age.
    if (!exists(path) && locateDir(path) === t.name) continue;
    await Deno.remove(t.name, { recursive: true }).catch(() => {});
    removed.push(t.name);
  }
  return removed;
}

/**
 * Writes a file atomically: a temporary file in the same folder, then a rename.
 *
 * @param path the target
 * @param data the bytes or text
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = temporaryName(path);
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (error) {
    await Deno.remove(tmp).catch(() => {});
    throw error;
  }
}

/**
 * Fills a directory atomically: `fill` writes into a temporary sibling, which then replaces
 * `path` (the old directory is moved aside first and removed after). At every instant a complete
 * version exists under `path` or under a name that {@link locateDir} finds.
 *
 * @param path the target directory
 * @param fill writes the directory's content into the folder it is given
 */
export async function writeDirAtomic(
  path: string,
  fill: (dir: string) => Promise<void>,
): Promise<void> {
  await removeStaleTemporaries(path);
  const tmp = temporaryName(path);
  await Deno.mkdir(tmp, { recursive: true });
  try {
    await fill(tmp);
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw error;
  }
  const old = `${tmp}.old`;
  let moved = false;
  try {
    await Deno.rename(path, old);
    moved = true;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
      throw error;
    }
  }
  await Deno.rename(tmp, path);
  if (moved) await Deno.remove(old, { recursive: true });
}
