/**
 * One small logger passed around explicitly. Plain lines (journald adds the
 * timestamp): `level component: message key=value …`. Tests use memoryLogger.
 * Never pass secret values as fields: nothing here can tell them apart.
 */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

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

export function createLogger(opts: { component: string; level?: Level; write?: (line: string) => void; timestamps?: boolean }): Logger {
  const min = ORDER[opts.level ?? "info"];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const make = (component: string): Logger => {
    const emit = (level: Level) => (msg: string, fields?: Fields) => {
      if (ORDER[level] < min) return;
      const line = formatLine(level, component, msg, fields);
      write(opts.timestamps ? `${new Date().toISOString()} ${line}` : line);
    };
    return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error"), child: (c) => make(`${component}.${c}`) };
  };
  return make(opts.component);
}

/** A logger that keeps its lines in memory, for tests. */
export function memoryLogger(component = "test"): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({ component, level: "debug", write: (l) => lines.push(l) });
  return Object.assign(logger, { lines });
}
