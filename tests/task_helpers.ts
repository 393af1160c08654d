/**
 * Runs the tasks as a user would, in a child process, for the task and reliability tests.
 *
 * @module
 */

const root = new URL("..", import.meta.url).pathname;

/** Exit code, stdout and stderr of a task run. */
export interface TaskResult {
  /** The exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs `tasks/<script>` with `args` in `cwd` and waits for it.
 *
 * @param script the task file, e.g. `"train_small.ts"`
 * @param args its flags
 * @param cwd the working folder
 * @param env extra environment variables
 * @returns what it printed and its exit code
 */
export async function task(
  script: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<TaskResult> {
  const out = await spawnTask(script, args, cwd, env).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/**
 * The command that runs a task (to start it and act while it runs).
 *
 * @param script the task file
 * @param args its flags
 * @param cwd the working folder
 * @param env extra environment variables
 * @returns the command, with piped output
 */
export function spawnTask(
  script: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `--config=${root}deno.json`, `${root}tasks/${script}`, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  });
}

/** The smallest train-small run: 16×16, 8 frames, 2 stages, 16 videos. */
export const TINY = [
  "--size=16",
  "--frames=8",
  "--stages=2",
  "--videos=16",
  "--batch=2",
  "--widths=8,16",
  "--checkpoint-every=3",
  "--samples=2",
  "--sample-steps=4",
  "--log-every=1",
];
