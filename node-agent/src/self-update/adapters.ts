/**
 * The real SelfUpdatePorts: `nix build`, the new agent's `self-test`,
 * `nix-env -p <agent profile> --set`, the record file
 * (<stateDir>/self-update.json, written atomically) and the start wrapper's
 * marker (<stateDir>/agent-start.state, read only).
 */
import { readFile, realpath } from "node:fs/promises";
import { join } from "node:path";
import type { Logger } from "../../../common/src/log.js";
import { failureText, type Runner } from "../adapters/exec.js";
import { writeFileAtomic } from "../adapters/state-file.js";
import type { EventDraft } from "../loop/events.js";
import { EMPTY_RECORD, type SelfTestResult, type SelfUpdatePorts, type SelfUpdateRecord } from "./types.js";

export interface NixSelfUpdateOptions {
  run: Runner;
  log: Logger;
  nix: string;
  nixEnv: string;
  /** The agent profile (FLOTILLA_AGENT_PROFILE). */
  profile: string;
  stateDir: string;
  /** Passed to the new agent's self-test. */
  configPath: string;
  buildTimeoutMs: number;
  report(d: EventDraft): Promise<void>;
}

export const RECORD_FILE = "self-update.json";
export const WRAPPER_MARKER = "agent-start.state";

/** `key=value` lines of the start wrapper's marker. */
export function parseMarker(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** The last line of `text` that parses as a JSON object, or null. */
export function lastJsonLine(text: string): Record<string, unknown> | null {
  for (const line of text.trim().split("\n").reverse()) {
    try {
      const v = JSON.parse(line) as unknown;
      if (v && typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      // not JSON; keep looking
    }
  }
  return null;
}

export class NixSelfUpdatePorts implements SelfUpdatePorts {
  constructor(private readonly o: NixSelfUpdateOptions) {}

  async build(installable: string, signal?: AbortSignal): Promise<string> {
    const r = await this.o.run(this.o.nix, ["build", "--no-eval-cache", "--no-link", "--json", installable], { timeoutMs: this.o.buildTimeoutMs, ...(signal ? { signal } : {}) });
    if (r.exitCode !== 0) throw new Error(failureText(r, this.o.buildTimeoutMs));
    const out = (JSON.parse(r.stdout) as Array<{ outputs?: Record<string, string> }>)[0]?.outputs?.out;
    if (!out) throw new Error(`no "out" output in ${r.stdout.slice(0, 500)}`);
    return out;
  }

  async selfTest(out: string, signal?: AbortSignal): Promise<SelfTestResult> {
    const r = await this.o.run(join(out, "bin", "flotilla-agent"), ["self-test", "--config", this.o.configPath], { timeoutMs: 120_000, ...(signal ? { signal } : {}) });
    const line = lastJsonLine(r.stdout);
    const version = typeof line?.version === "string" ? line.version : null;
    if (r.exitCode !== 0 || !line || line.ok !== true) {
      return { ok: false, version, detail: line ? JSON.stringify(line) : failureText(r) };
    }
    return { ok: true, version, detail: JSON.stringify(line) };
  }

  async profileTarget(): Promise<string | null> {
    return realpath(this.o.profile).catch(() => null);
  }

  async setProfile(path: string): Promise<void> {
    const r = await this.o.run(this.o.nixEnv, ["-p", this.o.profile, "--set", path], { timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw new Error(`nix-env -p ${this.o.profile} --set ${path}: ${failureText(r)}`);
  }

  async loadRecord(): Promise<SelfUpdateRecord> {
    try {
      return { ...EMPTY_RECORD, ...(JSON.parse(await readFile(join(this.o.stateDir, RECORD_FILE), "utf8")) as Partial<SelfUpdateRecord>) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") this.o.log.warn("unreadable self-update record; starting afresh", { error: (e as Error).message });
      return { ...EMPTY_RECORD };
    }
  }

  saveRecord(r: SelfUpdateRecord): Promise<void> {
    return writeFileAtomic(join(this.o.stateDir, RECORD_FILE), JSON.stringify(r, null, 2) + "\n");
  }

  async wrapperFailed(): Promise<string | null> {
    const text = await readFile(join(this.o.stateDir, WRAPPER_MARKER), "utf8").catch(() => "");
    return parseMarker(text).failed || null;
  }

  report(d: EventDraft): Promise<void> {
    return this.o.report(d);
  }

  now(): Date {
    return new Date();
  }
}
