/**
 * A small, strict command-line parser for the kit's tools (the kit depends on npm packages only,
 * so not `jsr:@std/cli`): declared options only, typed values, `--help` text generated from the
 * declarations, and errors that name the option.
 *
 * @module
 */

/** One declared option. */
export interface OptionSpec {
  /** Kebab-case name without dashes, e.g. `batch-size`. */
  name: string;
  /** Value type; `boolean` options take no value; `integer` is a number without a fraction. */
  type: "string" | "number" | "integer" | "boolean";
  /** One-line help. */
  help: string;
  /** Default shown in help (and used when absent). */
  default?: string | number | boolean | null;
  /** Allowed values for strings. */
  choices?: readonly string[];
  /** May be given several times; the values are collected in order into a `string[]`. */
  repeatable?: boolean;
}

/** Parsed values by option name. */
export type ParsedArgs = Record<string, string | string[] | number | boolean | null | undefined>;

/** Thrown for `--help`: its message is the help text. */
export class HelpRequested extends Error {}

/**
 * Runs a tool's main function as a command: `--help` ({@linkcode HelpRequested}) prints its text to
 * stdout and exits 0; any other error prints `<label>: <message>` to stderr (never a stack trace)
 * and exits 1. Errors that escape `main` (an unhandled rejection, an uncaught error in a callback)
 * are reported the same way.
 */
export async function runCli(main: () => Promise<unknown>, label = "error"): Promise<void> {
  const fail = (e: unknown): never => {
    console.error(`${label}: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  };
  globalThis.addEventListener("unhandledrejection", (ev) => {
    ev.preventDefault();
    fail(ev.reason);
  });
  globalThis.addEventListener("error", (ev) => {
    ev.preventDefault();
    fail(ev.error ?? ev.message);
  });
  try {
    await main();
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(e.message);
      Deno.exit(0);
    }
    fail(e);
  }
}

/** Builds the `--help` text. */
export function helpText(usage: string, specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const flag =
      `--${s.name}${s.type === "boolean" ? "" : ` <${s.choices?.join("|") ?? s.type}>`}` +
      (s.repeatable ? " ..." : "");
    const def = s.default === undefined || s.default === null || s.default === false
      ? ""
      : ` (default: ${s.default})`;
    return `  ${flag.padEnd(34)} ${s.help}${def}`;
  });
  return `${usage}\n\nOptions:\n${rows.join("\n")}\n  ${"--help".padEnd(34)} Show this help.`;
}

/** Parses `args` against `specs`; throws with the option's name on any problem. */
export function parseArgs(
  args: readonly string[],
  specs: readonly OptionSpec[],
  usage: string,
): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  for (const s of specs) {
    if (s.repeatable && s.type !== "string") {
      throw new Error(`option spec --${s.name}: only string options can be repeatable`);
    }
  }
  const out: ParsedArgs = {};
  // A repeated option: the last value wins, unless the option is declared repeatable.
  for (const s of specs) out[s.name] = s.repeatable ? [] : s.default;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") throw new HelpRequested(helpText(usage, specs));
    if (!arg.startsWith("--")) throw new Error(`unexpected argument "${arg}" (see --help)`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const spec = byName.get(name);
    if (!spec) throw new Error(`unknown option --${name} (see --help)`);
    if (spec.type === "boolean") {
      if (eq >= 0) throw new Error(`--${name} takes no value`);
      out[name] = true;
      continue;
    }
    const raw = eq >= 0 ? arg.slice(eq + 1) : args[++i];
    if (raw === undefined) throw new Error(`--${name} needs a value`);
    if (spec.type === "number" || spec.type === "integer") {
      // Decimal notation only: `Number` would also take "0x10", "0b1" or "Infinity".
      const v = Number(raw);
      if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) || !Number.isFinite(v)) {
        throw new Error(`--${name}: "${raw}" is not a number`);
      }
      if (spec.type === "integer" && (!/^[+-]?\d+$/.test(raw) || !Number.isSafeInteger(v))) {
        throw new Error(`--${name}: "${raw}" is not an integer`);
      }
      out[name] = v;
    } else {
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new Error(`--${name}: "${raw}" is not one of ${spec.choices.join(", ")}`);
      }
      if (spec.repeatable) (out[name] as string[]).push(raw);
      else out[name] = raw;
    }
  }
  return out;
}
