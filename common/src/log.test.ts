import { describe, expect, it } from "vitest";
import { createLogger, envLogFormat, formatJson, formatLine, priorityPrefix } from "./log.js";

function capture(opts: { format?: "text" | "json"; journal?: boolean; level?: "debug" | "info" }) {
  const lines: string[] = [];
  const log = createLogger({ component: "agent", write: (l) => lines.push(l), ...opts });
  return { log, lines };
}

describe("logger formats", () => {
  it("text lines stay `level component: msg key=value`", () => {
    expect(formatLine("error", "agent", "ROLLBACK FAILED", { rev: "abc", why: "two words" })).toBe('error agent: ROLLBACK FAILED rev=abc why="two words"');
  });

  it("journal mode prefixes every line with its sd-daemon(3) priority", () => {
    const { log, lines } = capture({ journal: true, level: "debug" });
    log.error("ROLLBACK FAILED", { rev: "abc" });
    log.warn("w");
    log.info("i");
    log.child("git").debug("d");
    expect(lines).toEqual(["<3>error agent: ROLLBACK FAILED rev=abc", "<4>warn agent: w", "<6>info agent: i", "<7>debug agent.git: d"]);
    expect([priorityPrefix("error"), priorityPrefix("warn"), priorityPrefix("info"), priorityPrefix("debug")]).toEqual(["<3>", "<4>", "<6>", "<7>"]);
  });

  it("without journal mode there is no prefix", () => {
    const { log, lines } = capture({ journal: false });
    log.error("x");
    expect(lines).toEqual(["error agent: x"]);
  });

  it("json: one object per line with time, level, component, msg and fields", () => {
    const { log, lines } = capture({ format: "json", journal: false });
    log.child("deploy").warn('quote " and\nnewline', { rev: "abc", n: 3, ok: true, none: null, gone: undefined });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("\n");
    const o = JSON.parse(lines[0]!);
    expect(o).toMatchObject({ level: "warn", component: "agent.deploy", msg: 'quote " and\nnewline', rev: "abc", n: 3, ok: true, none: null });
    expect("gone" in o).toBe(false);
    expect(new Date(o.time).toISOString()).toBe(o.time);
  });

  it("json fields cannot override time, level, component or msg", () => {
    const o = JSON.parse(formatJson("info", "c", "m", { level: "error", msg: "forged", component: "x", time: "0" }, new Date(0)));
    expect(o).toEqual({ time: "1970-01-01T00:00:00.000Z", level: "info", component: "c", msg: "m" });
  });

  it("json under journald keeps the priority prefix before the object", () => {
    const { log, lines } = capture({ format: "json", journal: true });
    log.error("boom");
    expect(lines[0]!.startsWith('<3>{"time":')).toBe(true);
    expect(JSON.parse(lines[0]!.slice(3)).level).toBe("error");
  });

  it("level filtering applies to json too", () => {
    const { log, lines } = capture({ format: "json", journal: false });
    log.debug("hidden");
    expect(lines).toEqual([]);
  });

  it("FLOTILLA_LOG_FORMAT picks the format; unknown values are ignored", () => {
    expect(envLogFormat({ FLOTILLA_LOG_FORMAT: "json" })).toBe("json");
    expect(envLogFormat({ FLOTILLA_LOG_FORMAT: "TEXT" })).toBe("text");
    expect(envLogFormat({ FLOTILLA_LOG_FORMAT: "xml" })).toBeUndefined();
    expect(envLogFormat({})).toBeUndefined();
  });

  it("json keeps values redacted upstream: the logger adds nothing but the fields it is given", () => {
    const { log, lines } = capture({ format: "json", journal: false });
    log.error("git fetch failed", { remote: "https://***@example.org/fleet.git" });
    expect(lines[0]).toContain("https://***@example.org/fleet.git");
  });
});
