/**
 * Screenshots: the smoke experiment's report.html and two executed notebooks (01_data, which trains
 * nothing, and 00_quickstart, which reuses the report's cyborg run), exported to HTML by nbconvert,
 * are rendered in headless Chromium (network closed) at 1280×2000. The PNGs are kept under
 * `test-artifacts/screenshots/` (or `$CYBORG_TEST_ARTIFACTS/screenshots/`); each must show a page
 * (many colours, enough non-white pixels); the report's Plotly traces in the kit's palette (its
 * two strategies' colours), the notebooks' Plotly image grids (thousands of colours).
 *
 * Needs Debian's chromium and jupyter packages and the project kernelspec
 * (`bash tools/ensure_test_deps.sh`).
 */
import assert from "node:assert/strict";
import sharp from "sharp";
import { PALETTE } from "../lib/plots/mod.ts";
import { chromium } from "./_support/chromium.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
const PYTHON = "/usr/bin/python3";
const WIDTH = 1280;

/** Where the PNGs are kept. */
function artifactsDir(): string {
  const base = Deno.env.get("CYBORG_TEST_ARTIFACTS");
  return base ? `${base}/screenshots` : `${ROOT}/test-artifacts/screenshots`;
}

/** What a screenshot shows, in numbers. */
export interface ImageStats {
  width: number;
  height: number;
  /** Distinct colours (RGB, each channel quantised to 32 levels). */
  colours: number;
  /** Fraction of pixels not (near) white. */
  nonWhite: number;
  /** Pixels within 6 per channel of a colour of the kit's Plotly palette, per colour. */
  palette: Record<string, number>;
}

/** Decodes a PNG and measures it. */
export async function imageStats(png: string): Promise<ImageStats> {
  const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const rgb = PALETTE.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const palette: Record<string, number> = Object.fromEntries(PALETTE.map((h) => [h, 0]));
  const colours = new Set<number>();
  let nonWhite = 0;
  for (let i = 0; i < data.length; i += 3) {
    const r = data[i], g = data[i + 1], b = data[i + 2];
    colours.add(((r >> 3) << 10) | ((g >> 3) << 5) | (b >> 3));
    if (r < 240 || g < 240 || b < 240) nonWhite++;
    for (let k = 0; k < rgb.length; k++) {
      const c = rgb[k];
      if (Math.abs(r - c[0]) <= 6 && Math.abs(g - c[1]) <= 6 && Math.abs(b - c[2]) <= 6) {
        palette[PALETTE[k]]++;
        break;
      }
    }
  }
  return {
    width: info.width,
    height: info.height,
    colours: colours.size,
    nonWhite: nonWhite / (info.width * info.height),
    palette,
  };
}

/** Screenshots `html` into `<artifacts>/<name>.png` and checks the image; returns its stats. */
async function screenshot(name: string, html: string): Promise<ImageStats> {
  const height = 2000;
  const dir = artifactsDir();
  await Deno.mkdir(dir, { recursive: true });
  const png = `${dir}/${name}.png`;
  await Deno.remove(png).catch(() => {});
  await chromium([
    `--screenshot=${png}`,
    `--window-size=${WIDTH},${height}`,
    `file://${html}`,
  ]);
  const s = await imageStats(png);
  // Grey and brown also occur in text and face images: only the other palette colours count.
  const drawn = Object.entries(s.palette)
    .filter(([c, n]) => n >= 500 && c !== "#7f7f7f" && c !== "#8c564b");
  console.log(
    `${name}.png: ${s.colours} colours, ${(100 * s.nonWhite).toFixed(1)} % non-white, palette ` +
      drawn.map(([c, n]) => `${c}:${n}`).join(" "),
  );
  assert.deepEqual([s.width, s.height], [WIDTH, height], `${name}: size`);
  assert.ok(s.colours >= 64, `${name}: ${s.colours} distinct colours (blank page?)`);
  assert.ok(s.nonWhite >= 0.03, `${name}: ${(100 * s.nonWhite).toFixed(1)} % non-white pixels`);
  return s;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `${cmd} ${args.join(" ")} exited ${out.code}:\n${stderr.slice(-3000)}`);
}

Deno.test("screenshots: a smoke report and two executed notebooks render with Plotly's traces", async () => {
  // Inside the project, as the notebooks require; the notebooks reuse the report's runs.
  const rel = `results/.test-screenshots-${Deno.pid}`;
  const out = `${ROOT}/${rel}`;
  const t0 = performance.now();
  const lap = (what: string) =>
    console.log(`${what}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  try {
    await run(Deno.execPath(), [
      ...["run", "-A", "tools/reproduce.ts", "--preset", "smoke", "--out", out],
      ...["--jobs", "2", "--strategies", "baseline,cyborg"],
    ]);
    lap("smoke report (baseline, cyborg)");
    const report = await screenshot("smoke_report", `${out}/report.html`);
    // Two strategies: Plotly's first two trace colours, as bars and curves.
    for (const c of PALETTE.slice(0, 2)) assert.ok(report.palette[c] >= 5000, `report: ${c}`);

    for (const nb of ["01_data", "00_quickstart"]) {
      const executed = `${out}/${nb}.executed.ipynb`;
      await run(
        PYTHON,
        [`${ROOT}/tools/run_notebook.py`, `notebooks/${nb}.ipynb`, "-o", executed],
        {
          CYBORG_PRESET: "smoke",
          CYBORG_OUT: rel,
        },
      );
      await run(PYTHON, [
        ...["-m", "nbconvert", "--to", "html", executed],
        ...["--output-dir", out, "--output", nb],
      ]);
      lap(`notebook ${nb}`);
      const shot = await screenshot(`notebook_${nb}`, `${out}/${nb}.html`);
      // Their first screen is code, tables and Plotly image grids (no curves yet): thousands of
      // colours, where a page of text and code has a few hundred.
      assert.ok(shot.colours >= 1000, `${nb}: ${shot.colours} colours, no image drawn`);
    }
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
});

Deno.test("screenshots: a blank page fails the check", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "cyborg-blank-" });
  await Deno.writeTextFile(`${tmp}/blank.html`, "<!DOCTYPE html><html><body></body></html>");
  await assert.rejects(screenshot("blank_page", `${tmp}/blank.html`), /distinct colours/);
  await Deno.remove(tmp, { recursive: true });
});
