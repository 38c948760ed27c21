/**
 * Shared CLI conventions for `flotilla` commands: a usage error (exit 2, one
 * line on stderr and a hint to use --help) and node:util parseArgs with its
 * errors turned into usage errors that name the option.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Bad command line: main() prints `flotilla <command>: <message>` and a --help hint, exit 2. */
export class UsageError extends Error {
  override name = "UsageError";
  /** The command (and subcommand) it concerns, for the hint: "keys recipient". */
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

/** True when `--help`/`-h` appears before a `--`. */
export function wantsHelp(argv: string[]): boolean {
  const end = argv.indexOf("--");
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === "--help" || a === "-h");
}

/** parseArgs whose errors are UsageErrors with a one-line message naming the option. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T, command?: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (e) {
    throw new UsageError(usageMessage(e), command);
  }
}

function usageMessage(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const quoted = /'([^']+)'/.exec(err.message ?? "")?.[1];
  switch (err.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${quoted ?? ""}`.trim();
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      // "Option '-c, --config <value>' argument missing": name the long form
      return quoted && /argument missing/.test(err.message ?? "") ? `option ${/--[\w-]+/.exec(quoted)?.[0] ?? quoted} needs a value` : (err.message ?? "invalid option value");
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${quoted ?? ""}`.trim();
    default:
      return err.message ?? String(e);
  }
}

/** `message` plus its cause chain, one `: `-joined line (duplicates dropped). */
export function describeError(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; cur !== undefined && cur !== null && depth < 5; depth++) {
    const msg = cur instanceof Error ? cur.message : String(cur);
    if (msg && !parts.some((p) => p.includes(msg))) parts.push(msg);
    // An error that already says what its cause meant (ListenError) ends the chain.
    cur = cur instanceof Error && !(cur as { explainsCause?: boolean }).explainsCause ? cur.cause : undefined;
  }
  return parts.join(": ") || String(e);
}
