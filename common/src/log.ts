/**
 * One small logger passed around explicitly. Plain lines (journald adds the
 * timestamp): `level component: message key=value …`, or with format "json"
 * one object per line `{"time","level","component","msg",…fields}` for log
 * shippers. Under systemd (JOURNAL_STREAM set) every line starts with its
 * syslog priority (`<3>` error, `<4>` warn, `<6>` info, `<7>` debug,
 * sd-daemon(3)), so `journalctl -p err` finds the errors. Tests use memoryLogger.
 * Never pass secret values as fields: nothing here can tell them apart
 * (callers redact command output and errors before logging them).
 */
export type Level = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
/** sd-daemon(3) priorities: SD_ERR, SD_WARNING, SD_INFO, SD_DEBUG. */
const PRIORITY: Record<Level, number> = { error: 3, warn: 4, info: 6, debug: 7 };

export type Fields = Record<string, string | number | boolean | null | undefined>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  child(component: string): Logger;
}

function fmtValue(v: Fields[string]): string {
  const s = String(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

export function formatLine(level: Level, component: string, msg: string, fields?: Fields): string {
  const kv = Object.entries(fields ?? {})
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${fmtValue(v)}`)
    .join(" ");
  return `${level} ${component}: ${msg}${kv ? " " + kv : ""}`;
}

/** One JSON object (one line): time, level, component, msg, then the fields (never overriding those four). */
export function formatJson(level: Level, component: string, msg: string, fields?: Fields, time: Date = new Date()): string {
  const out: Record<string, unknown> = { time: time.toISOString(), level, component, msg };
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v === undefined || k in out) continue;
    out[k] = typeof v === "number" && !Number.isFinite(v) ? String(v) : v;
  }
  return JSON.stringify(out);
}

/** `<N>` syslog priority prefix for journald (sd-daemon(3)). */
export function priorityPrefix(level: Level): string {
  return `<${PRIORITY[level]}>`;
}

/** The priority prefix for a line written outside a Logger (a CLI's last words): `<N>` under journald, else "". */
export function journalPrefix(level: Level, env: NodeJS.ProcessEnv = process.env): string {
  return env.JOURNAL_STREAM ? priorityPrefix(level) : "";
}

/** The format from FLOTILLA_LOG_FORMAT ("json" or "text"), when set to one of them. */
export function envLogFormat(env: NodeJS.ProcessEnv = process.env): LogFormat | undefined {
  const v = env.FLOTILLA_LOG_FORMAT?.trim().toLowerCase();
  return v === "json" || v === "text" ? v : undefined;
}

export interface LoggerOptions {
  component: string;
  level?: Level;
  write?: (line: string) => void;
  timestamps?: boolean;
  /** Default: FLOTILLA_LOG_FORMAT, else "text". */
  format?: LogFormat;
  /** Prefix lines with `<N>` syslog priorities. Default: JOURNAL_STREAM is set (stderr goes to journald). */
  journal?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const min = ORDER[opts.level ?? "info"];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const format = opts.format ?? envLogFormat() ?? "text";
  const journal = opts.journal ?? Boolean(process.env.JOURNAL_STREAM);
  const make = (component: string): Logger => {
    const emit = (level: Level) => (msg: string, fields?: Fields) => {
      if (ORDER[level] < min) return;
      let line: string;
      if (format === "json") line = formatJson(level, component, msg, fields);
      else {
        line = formatLine(level, component, msg, fields);
        if (opts.timestamps) line = `${new Date().toISOString()} ${line}`;
      }
      write(journal ? `${priorityPrefix(level)}${line}` : line);
    };
    return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error"), child: (c) => make(`${component}.${c}`) };
  };
  return make(opts.component);
}

/** A logger that keeps its lines in memory, for tests. */
export function memoryLogger(component = "test"): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ component, level: "debug", write: (l) => lines.push(l), format: "text", journal: false });
  return Object.assign(logger, { lines });
}
