/**
 * The built agent's log lines under systemd (JOURNAL_STREAM set) carry
 * sd-daemon(3) priority prefixes, so `journalctl -p err` finds the errors;
 * FLOTILLA_LOG_FORMAT=json gives one JSON object per line. Runs the real
 * `bin/flotilla-agent.js` (built by the global setup).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const BIN = join(import.meta.dirname, "../../bin/flotilla-agent.js");

function runAgent(env: Record<string, string>, extraConfig = ""): string[] {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-logfmt-"));
  const config = join(dir, "agent.yaml");
  // A password in the remote URL: a warning at startup. No host key: `once` fails (error).
  writeFileSync(
    config,
    `host: canary-1\nremotes: ["https://user:s3cretpw@127.0.0.1:1/fleet.git"]\nstateDir: ${dir}/state\nhostKeyPath: ${dir}/missing-key\nsecretsRoot: ${dir}/secrets\n${extraConfig}`,
  );
  const base = { ...process.env };
  delete base.JOURNAL_STREAM;
  delete base.FLOTILLA_LOG_FORMAT;
  const r = spawnSync(process.execPath, [BIN, "once", "--config", config], { env: { ...base, ...env }, encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(1);
  return r.stderr.split("\n").filter((l) => l.length > 0);
}

describe("agent log format", () => {
  it("under systemd every stderr line starts with its syslog priority", () => {
    const lines = runAgent({ JOURNAL_STREAM: "8:12345" });
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l).toMatch(/^<[3467]>/);
    expect(lines.some((l) => l.startsWith("<4>warn flotilla-agent: remotes: a password is embedded"))).toBe(true);
    expect(lines.some((l) => l.startsWith("<3>") && l.includes("missing-key"))).toBe(true);
    expect(lines.join("\n")).not.toContain("s3cretpw");
  });

  it("outside systemd lines have no prefix", () => {
    const lines = runAgent({});
    for (const l of lines) expect(l).not.toMatch(/^<\d>/);
    expect(lines.some((l) => l.startsWith("warn flotilla-agent: remotes:"))).toBe(true);
  });

  it("logFormat: json (config) and FLOTILLA_LOG_FORMAT=json give one object per logger line", () => {
    for (const lines of [runAgent({}, "logFormat: json\n"), runAgent({ FLOTILLA_LOG_FORMAT: "json" })]) {
      const objs = lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(objs.length).toBeGreaterThanOrEqual(1);
      for (const o of objs) expect(Object.keys(o).slice(0, 4)).toEqual(["time", "level", "component", "msg"]);
      expect(objs.some((o) => o.level === "warn" && o.component === "flotilla-agent" && String(o.msg).startsWith("remotes: a password"))).toBe(true);
      expect(lines.join("\n")).not.toContain("s3cretpw");
    }
  });
});
