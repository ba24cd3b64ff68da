/**
 * Runs one of the kit's command-line tools as a user would: `deno run -A <script> …args` from the
 * project root (whatever the test process's cwd: another test module in the same process may
 * change it), without colours.
 *
 * @module
 */

const PROJECT_ROOT = decodeURIComponent(new URL("../../", import.meta.url).pathname);

/** Exit code, stdout and stderr of one tool run. */
export interface ToolResult {
  code: number;
  out: string;
  err: string;
}

/** Runs `script` (relative to the project root) with `args`; returns its exit code and output. */
export async function runTool(script: string, args: readonly string[]): Promise<ToolResult> {
  const r = await new Deno.Command(Deno.execPath(), {
    cwd: PROJECT_ROOT,
    args: ["run", "-A", script, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}
