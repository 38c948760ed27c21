/**
 * Self-update: the agent replaces itself with the agent named in the fleet
 * file (`agent.selfUpdate`). This file holds the shared vocabulary: the spec,
 * the record kept in <stateDir>/self-update.json, and the ports the step
 * sequence (updater.ts) and the start-up confirmation (confirm.ts) run
 * behind, so both are tested with in-memory ports and the real adapters live
 * in adapters.ts.
 */
import type { AgentSpec } from "../../../common/src/fleet/model.js";
import type { EventDraft } from "../loop/events.js";

export type SelfUpdateSpec = NonNullable<AgentSpec["selfUpdate"]>;

/** Written before the profile switch (and the exit 75); read by the next agent at start. */
export interface PendingUpdate {
  /** Out path the agent profile was switched to. */
  target: string;
  /** The agent that ran the update (FLOTILLA_AGENT_STARTED_FROM): what a restore sets the profile back to. */
  previous: string | null;
  installable: string;
  version: string | null;
  switchedAt: string;
  deadlineMs: number;
  /** Set by a new agent that could not report within the deadline and restored `previous` itself. */
  restored?: { reason: string; message: string };
}

export interface SelfUpdateRecord {
  pending: PendingUpdate | null;
  /** Out paths that failed to come up healthy; never installed again. */
  failed: string[];
  /** Key of the last skip reported ("up-to-date:<out>", …), so a skip is reported once. */
  noticed: string | null;
}

export const EMPTY_RECORD: SelfUpdateRecord = { pending: null, failed: [], noticed: null };

export interface SelfTestResult {
  ok: boolean;
  version: string | null;
  /** The JSON line, or the tail of the output when there is none. */
  detail: string;
}

export interface SelfUpdatePorts {
  /** `nix build` of the installable; returns the out path. */
  build(installable: string, signal?: AbortSignal): Promise<string>;
  /** Runs `<out>/bin/flotilla-agent self-test --config <this agent's config>`. */
  selfTest(out: string, signal?: AbortSignal): Promise<SelfTestResult>;
  /** The store path the agent profile points at, or null when it has none. */
  profileTarget(): Promise<string | null>;
  /** `nix-env -p <agent profile> --set <path>` (a static path, never --rollback). */
  setProfile(path: string): Promise<void>;
  loadRecord(): Promise<SelfUpdateRecord>;
  saveRecord(r: SelfUpdateRecord): Promise<void>;
  /** `failed=` of <stateDir>/agent-start.state (the start wrapper's crash-loop verdict), or null. */
  wrapperFailed(): Promise<string | null>;
  report(draft: EventDraft): Promise<void>;
  now(): Date;
}

/**
 * The flake installable of the spec: `<source>#<attribute>`, default
 * `packages.<system>.flotilla`. A `git+…` source pinned by `rev=` alone gets
 * `ref=HEAD`: Nix 2.8 otherwise fetches refs/heads/master and fails on a
 * repository whose branch is main; the rev still pins the content.
 */
export function installableOf(spec: Pick<SelfUpdateSpec, "source" | "attribute">, system: string): string {
  let source = spec.source;
  const q = source.indexOf("?");
  if (source.startsWith("git+") && q !== -1) {
    const params = new URLSearchParams(source.slice(q + 1));
    if (params.has("rev") && !params.has("ref")) source += "&ref=HEAD";
  }
  return `${source}#${spec.attribute ?? `packages.${system}.flotilla`}`;
}

/** Nix's system double for this process. */
export function nixSystem(arch: string = process.arch, platform: string = process.platform): string {
  const cpu = arch === "x64" ? "x86_64" : arch === "arm64" ? "aarch64" : arch;
  return `${cpu}-${platform}`;
}

/** An event of phase "selfUpdate" (rev is null: it concerns the agent, not a fleet revision). */
export function suEvent(outcome: EventDraft["outcome"], reason: string, generation: string | null, rest: Partial<EventDraft> = {}): EventDraft {
  return { phase: "selfUpdate", outcome, reason, rev: null, generation, ...rest };
}
