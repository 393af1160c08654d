/**
 * Atomic file and directory writes: write beside the target, then rename, so that a reader never
 * sees a half-written file and an interrupted job leaves the previous version in place.
 *
 * @module
 */

function temporaryName(path: string): string {
  return `${path}.tmp-${Deno.pid}-${Math.random().toString(36).slice(2, 10)}`;
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
 * `path` (the old directory is moved aside first and removed after).
 *
 * @param path the target directory
 * @param fill writes the directory's content into the folder it is given
 */
export async function writeDirAtomic(
  path: string,
  fill: (dir: string) => Promise<void>,
): Promise<void> {
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
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.rename(tmp, path);
  if (moved) await Deno.remove(old, { recursive: true });
}
