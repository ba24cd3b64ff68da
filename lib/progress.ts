/**
 * Progress display: a one-line bar with images/s and ETA that redraws in place in a terminal, and
 * a display that updates in place in a Jupyter notebook (Deno kernel, `update_display_data`).
 * Elsewhere (a pipe, CI logs) it prints a plain line at most every few seconds.
 *
 * @module
 */
import { flushIopub } from "./jupyter_iopub.ts";

/** What a progress update shows. */
export interface ProgressState {
  /** Items done (e.g. images, steps). */
  done: number;
  /** Items in total. */
  total: number;
  /** Free text after the bar (loss, accuracy). */
  note?: string;
}

type JupyterNs = {
  broadcast(type: string, content: Record<string, unknown>): Promise<void>;
};

function jupyter(): JupyterNs | undefined {
  try {
    // Outside `deno jupyter` the getter throws.
    const ns = (Deno as unknown as { jupyter?: JupyterNs }).jupyter;
    return ns && typeof ns.broadcast === "function" ? ns : undefined;
  } catch {
    return undefined;
  }
}

/** Formats seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** Renders the bar text: `label [#####.....] 50% 100/200 12.3 img/s ETA 8s note`. */
export function renderBar(
  label: string,
  state: ProgressState,
  elapsedS: number,
  unit = "img",
  width = 24,
): string {
  const frac = state.total > 0 ? Math.min(1, state.done / state.total) : 0;
  const filled = Math.round(frac * width);
  const rate = elapsedS > 0 ? state.done / elapsedS : 0;
  const eta = rate > 0 ? (state.total - state.done) / rate : NaN;
  return `${label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ` +
    `${(frac * 100).toFixed(0).padStart(3)}% ${state.done}/${state.total} ` +
    `${rate.toFixed(1)} ${unit}/s ETA ${formatDuration(eta)}` +
    (state.note ? ` ${state.note}` : "");
}

/** A progress display for one task (e.g. one epoch or a whole run). */
export class Progress {
  #start = performance.now();
  #lastPlain = 0;
  #displayId = `cyborg-progress-${crypto.randomUUID()}`;
  #shown = false;
  #mode: "tty" | "jupyter" | "plain" | "silent";

  /**
   * @param label prefix of the line
   * @param unit what `done` counts, for the rate
   * @param mode forced mode; default: jupyter in a Deno kernel, tty on a terminal, else plain
   */
  constructor(readonly label: string, readonly unit = "img", mode?: Progress["mode"]) {
    this.#mode = mode ??
      (jupyter() ? "jupyter" : Deno.stderr.isTerminal() ? "tty" : "plain");
  }

  /** The chosen output mode. */
  get mode(): "tty" | "jupyter" | "plain" | "silent" {
    return this.#mode;
  }

  /** Seconds since the display started. */
  get elapsed(): number {
    return (performance.now() - this.#start) / 1000;
  }

  /** Shows the state (rate-limited in plain mode). */
  async update(state: ProgressState, force = false): Promise<void> {
    const text = renderBar(this.label, state, this.elapsed, this.unit);
    switch (this.#mode) {
      case "tty":
        await Deno.stderr.write(new TextEncoder().encode(`\r\x1b[2K${text}`));
        break;
      case "jupyter": {
        // Rate-limited: a storm of display updates is useless to a reader and, racing with other
        // outputs, has produced corrupted (badly signed) IOPub messages from Deno's kernel.
        if (!force && this.#shown && performance.now() - this.#lastPlain < 500) break;
        this.#lastPlain = performance.now();
        const content = {
          data: { "text/plain": text, "text/html": `<pre>${escapeHtml(text)}</pre>` },
          metadata: {},
          transient: { display_id: this.#displayId },
        };
        await jupyter()!.broadcast(this.#shown ? "update_display_data" : "display_data", content);
        this.#shown = true;
        break;
      }
      case "plain":
        if (force || performance.now() - this.#lastPlain > 5000) {
          console.error(text);
          this.#lastPlain = performance.now();
        }
        break;
      case "silent":
        break;
    }
  }

  /** Final update and newline; in Jupyter, waits until the kernel has sent it ({@linkcode flushIopub}). */
  async done(state: ProgressState): Promise<void> {
    await this.update(state, true);
    if (this.#mode === "tty") await Deno.stderr.write(new TextEncoder().encode("\n"));
    if (this.#mode === "jupyter") await flushIopub();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
