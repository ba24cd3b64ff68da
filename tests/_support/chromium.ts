/**
 * Test support: headless Debian Chromium (installed by tools/ensure_test_deps.sh) with the network
 * closed, for rendering reports and exported notebooks.
 *
 * @module
 */

/** Flags for a headless, offline, throwaway Chromium. */
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // Any network request fails: the page must render from its own bytes.
  "--host-resolver-rules=MAP * ~NOTFOUND",
  "--virtual-time-budget=15000",
];

/** Path of the Chromium binary (env CHROMIUM first). */
export function chromiumBinary(): string {
  const candidates = [Deno.env.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* next */ }
  }
  throw new Error(
    "headless Chromium not found (set CHROMIUM or run `bash tools/ensure_test_deps.sh`, which " +
      "installs Debian's chromium)",
  );
}

/** Runs Chromium with a fresh profile; returns stdout (e.g. --dump-dom). */
export async function chromium(args: string[]): Promise<string> {
  const profile = await Deno.makeTempDir({ prefix: "cyborg-chromium-" });
  try {
    const out = await new Deno.Command(chromiumBinary(), {
      args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(out.stdout);
    if (!out.success) {
      throw new Error(
        `chromium exited ${out.code}:\n${new TextDecoder().decode(out.stderr).slice(-2000)}`,
      );
    }
    return stdout;
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** Number of matches of a global regex. */
export function count(text: string, re: RegExp): number {
  return text.match(re)?.length ?? 0;
}
