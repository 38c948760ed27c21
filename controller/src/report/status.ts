/**
 * Builds the status report (per host: wave, desired and current revision,
 * phase, health, last seen, drift, pin, failed revisions; per rollout: commit,
 * PR and wave states) from the fleet at the head, host states and evaluated
 * rollouts. Pure.
 */
import type { ActionMark as ActionMarkJson, HostRebootStatus, HostStatus, RolloutStatus, StatusReport } from "../../../schemas/src/api.js";
import type { AgentPhase } from "../../../schemas/src/conditions.js";
import type { Fleet } from "../../../common/src/fleet/model.js";
import type { RolloutDecision } from "../rollout/decide.js";
import type { ActionMark } from "../rollout/operator.js";
import type { HostState } from "../store/host-state.js";
import type { CommitRecord } from "../store/types.js";
import { isoOf } from "./time.js";
import { windowState, type WindowSpec } from "../../../common/src/window/window.js";
import type { WindowStatus } from "../../../schemas/src/api.js";

export interface EvaluatedRollout {
  commit: CommitRecord;
  fleet: Fleet | null;
  decision: RolloutDecision | null;
  error?: string;
}

export interface StatusInput {
  now: number;
  branch: string;
  head: string | null;
  fleet: Fleet | null;
  hosts: readonly HostState[];
  /** Newest first; the first is the head. */
  rollouts: readonly EvaluatedRollout[];
  filter?: { host?: string; wave?: string };
  /** Hosts an operator holds (rollout/operator.ts heldHosts). */
  held?: ReadonlyMap<string, ActionMark>;
  /** Reboot coordination per host (controller/src/reboot/), when any. */
  reboots?: ReadonlyMap<string, HostRebootStatus>;
}

/** Per fleet (fleets are cached per revision): the hosts with a maintenance window of their own, and each host's wave. */
const fleetIndexes = new WeakMap<Fleet, { windowed: Map<string, WindowSpec>; waveOf: Map<string, string> }>();
function indexOf(fleet: Fleet): { windowed: Map<string, WindowSpec>; waveOf: Map<string, string> } {
  let ix = fleetIndexes.get(fleet);
  if (!ix) {
    ix = { windowed: new Map(), waveOf: new Map() };
    for (const h of fleet.hosts) {
      if (h.window) ix.windowed.set(h.name, h.window);
      ix.waveOf.set(h.name, h.wave);
    }
    fleetIndexes.set(fleet, ix);
  }
  return ix;
}

/** A wave's window (its own, else "open" when every member is), and which counted members are outside theirs. */
function waveWindow(fleet: Fleet | null, wave: string, counted: readonly string[], windowOf: (w: WindowSpec | undefined) => WindowStatus | undefined): { window?: WindowStatus & { waiting: string[] } } {
  if (!fleet) return {};
  const own = fleet.waves.find((w) => w.name === wave)?.window;
  const { windowed } = indexOf(fleet);
  // most fleets have no per-host windows: nothing to look up per member
  const anyWindow = own || (windowed.size > 0 && counted.some((m) => windowed.has(m)));
  if (!anyWindow) return {};
  const waiting = windowed.size > 0 ? counted.filter((m) => windowOf(windowed.get(m))?.open === false) : [];
  const base = own ? windowOf(own)! : { open: waiting.length < counted.length, nextOpen: null, source: "members' windows" };
  return { window: { ...base, waiting } };
}

const markJson = (m: ActionMark): ActionMarkJson => ({ id: m.id, actor: m.actor, reason: m.reason, time: isoOf(m.timeMs) });

const IN_FLIGHT = new Set(["fetched", "built", "activating", "verifying", "rollingBack", "selfUpdate"]);
const iso = (ms: number | null | undefined) => (ms ? isoOf(ms) : null);

function health(s: HostState | undefined, stale: boolean): HostStatus["health"] {
  if (!s || stale || !s.phase) return "Unknown";
  if (IN_FLIGHT.has(s.phase) || s.pendingReboot) return "Progressing";
  if (s.phase === "failed" || s.phase === "rollbackFailed" || s.phase === "firstDeployFailed" || s.healthy === false) return "Degraded";
  return s.healthy ? "Healthy" : "Unknown";
}

/** Per rollout (newest first): the waves open for it, and each host's wave in the fleet at that commit. */
function openWaves(rollouts: readonly EvaluatedRollout[]): { sha: string; opened: Set<string>; waveOf: Map<string, string> }[] {
  return rollouts
    .filter((r) => r.decision && r.fleet && r.decision.state !== "halted")
    .map((r) => ({ sha: r.commit.sha, opened: new Set(r.decision!.waves.filter((w) => w.openedAtMs !== null).map((w) => w.name)), waveOf: indexOf(r.fleet!).waveOf }))
    .filter((r) => r.opened.size > 0);
}

function desiredRev(host: string, pin: string | undefined, open: ReturnType<typeof openWaves>): string | null {
  if (pin) return pin;
  for (const r of open) {
    const wave = r.waveOf.get(host);
    if (wave !== undefined && r.opened.has(wave)) return r.sha;
  }
  return null;
}

/** Window states at `now`, computed once per window (10,000 hosts usually share a handful). */
function windowStates(now: number): (w: WindowSpec | undefined) => WindowStatus | undefined {
  const seen = new Map<WindowSpec, WindowStatus>();
  return (w) => {
    if (!w) return undefined;
    let v = seen.get(w);
    if (!v) {
      const st = windowState(w, now);
      v = { open: st.open, nextOpen: st.nextOpenMs === null ? null : isoOf(st.nextOpenMs), source: w.source };
      seen.set(w, v);
    }
    return v;
  };
}

export function buildStatus(input: StatusInput): StatusReport {
  const { fleet, now } = input;
  const windowOf = windowStates(now);
  const states = new Map(input.hosts.map((h) => [h.host, h]));
  const unreachableAfter = fleet?.policy.unreachableAfterMs ?? 300_000;
  const headRollout = input.rollouts[0]?.commit.sha === input.head ? input.rollouts[0] : undefined;
  const hosts: HostStatus[] = [];
  const open = openWaves(input.rollouts);
  const headWaves = new Map((headRollout?.decision?.waves ?? []).map((w) => [w.name, w]));
  for (const spec of fleet?.hosts ?? []) {
    if (input.filter?.host && spec.name !== input.filter.host) continue;
    if (input.filter?.wave && spec.wave !== input.filter.wave) continue;
    const s = states.get(spec.name);
    const stale = !s || now - s.lastSeenMs > unreachableAfter;
    const desired = desiredRev(spec.name, spec.pin, open);
    const current = s?.currentRev ?? null;
    const headWave = headWaves.get(spec.wave);
    const rolling = headWave?.state === "progressing" || headWave?.state === "soaking";
    hosts.push({
      host: spec.name,
      kind: spec.kind,
      wave: spec.wave,
      pinned: spec.pin ?? null,
      desiredRev: desired,
      currentRev: current,
      generation: s?.currentGeneration ?? null,
      phase: (s?.phase as AgentPhase | undefined) ?? null,
      health: health(s, stale),
      lastSeen: iso(s?.lastSeenMs),
      stale,
      drift: desired !== null && current !== desired && !rolling && !(s?.phase && IN_FLIGHT.has(s.phase)),
      since: iso(s?.sinceMs),
      failedRevs: s?.failedRevs ?? [],
      lastError: s?.lastError ?? null,
      needsReboot: s?.needsReboot ?? false,
      pendingReboot: s?.pendingReboot ?? false,
      held: input.held?.has(spec.name) ? markJson(input.held.get(spec.name)!) : null,
      ...(spec.window && !spec.pin ? { window: windowOf(spec.window)! } : {}),
      ...(input.reboots?.get(spec.name) ? { reboot: input.reboots.get(spec.name)! } : {}),
    });
  }
  const rollouts: RolloutStatus[] = input.rollouts.map((r) => ({
    rev: r.commit.sha,
    time: iso(r.commit.timeMs),
    subject: r.commit.subject || null,
    author: r.commit.author || null,
    pr: r.commit.pr,
    state: r.decision ? r.decision.state : "halted",
    ...(r.decision ? {} : { reason: `fleet file unusable: ${r.error ?? "unknown error"}` }),
    paused: r.decision?.paused ? markJson(r.decision.paused) : null,
    aborted: r.decision?.aborted ? markJson(r.decision.aborted) : null,
    ...(r.decision?.release ? { release: { state: r.decision.release.state, ...(r.decision.release.reason ? { reason: r.decision.release.reason } : {}), hosts: [...r.decision.release.hosts] } } : {}),
    waves: (r.decision?.waves ?? [])
      .filter((w) => !input.filter?.wave || w.name === input.filter.wave)
      .map((w) => ({
        name: w.name,
        state: w.state,
        members: w.counted,
        ...(w.pinned.length > 0 ? { pinned: w.pinned } : {}),
        healthy: w.healthy.length,
        openedAt: iso(w.openedAtMs),
        soakUntil: iso(w.soakUntilMs),
        reason: w.reason,
        ...(w.approval ? { approval: { state: w.approval.state, ...(w.approval.by ? { by: markJson(w.approval.by) } : {}) } } : {}),
        ...waveWindow(r.fleet, w.name, w.counted, windowOf),
      })),
  }));
  return { generatedAt: new Date(now).toISOString(), branch: input.branch, head: input.head, hosts, rollouts };
}
