/**
 * Operator actions (`flotilla rollout pause|resume|abort|approve`, `flotilla
 * host retry|hold|release`): checks an action against the branch and the
 * fleet file, records it (who, when, why) and hands it back. Recording is
 * all an action does to a rollout: the pure engine (rollout/decide.ts) reads
 * the actions like it reads recorded decisions, and agents learn of them from
 * their own signed gate and watch exchange. No action names a revision for a
 * host to run, so none can make a host run what the branch and fleet file
 * would not give it.
 */
import { ActionRequest, type OperatorAction, type OperatorActionKind } from "../../../schemas/src/api.js";
import type { Fleet } from "../../../common/src/fleet/model.js";
import { HttpError, formatPath } from "../errors.js";
import type { FleetView } from "../follower/follower.js";
import { hostSpec } from "../rollout/host-index.js";
import { rolloutActions } from "../rollout/operator.js";
import type { ActionRecord, CommitRecord, Store } from "../store/types.js";
import { isoOf } from "../report/time.js";

export const ROLLOUT_ACTIONS = ["pause", "resume", "abort", "approve"] as const;
export const HOST_ACTIONS = ["retry", "hold", "release"] as const;
export type RolloutActionKind = (typeof ROLLOUT_ACTIONS)[number];
export type HostActionKind = (typeof HOST_ACTIONS)[number];

export function toOperatorAction(a: ActionRecord): OperatorAction {
  return { id: a.id, action: a.action, rev: a.rev, wave: a.wave, host: a.host, reason: a.reason, actor: a.actor, time: isoOf(a.timeMs) };
}

/** The request body as an ActionRequest, or a 400 naming the field. */
export function parseActionRequest(body: unknown, kind: OperatorActionKind): ActionRequest {
  const r = ActionRequest.safeParse(body ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = formatPath(issue.path) || "reason";
    const missingReason = issue.path[0] === "reason" || (issue.code === "invalid_type" && issue.path.length === 0);
    const message = missingReason && (body as { reason?: unknown } | null)?.reason === undefined ? "a reason is required: say why (it is recorded in the audit), e.g. {\"reason\": \"canary looks slow\"}" : issue.message;
    throw new HttpError(400, missingReason ? "ReasonRequired" : "InvalidAction", `${kind}: ${path}: ${message}`, path);
  }
  if (kind === "approve" && !r.data.wave) throw new HttpError(400, "InvalidAction", "approve: wave: the wave to approve is required", "wave");
  if (kind !== "approve" && r.data.wave !== undefined) throw new HttpError(400, "InvalidAction", `${kind}: wave: only approve takes a wave`, "wave");
  if (kind !== "retry" && r.data.rev !== undefined) throw new HttpError(400, "InvalidAction", `${kind}: rev: only retry takes a rev in the body (rollout actions name it in the path)`, "rev");
  return r.data;
}

/** A full commit id from a sha or an unambiguous prefix (at least 4 hex digits) of a commit the controller recorded. */
export async function resolveRev(store: Store, prefix: string, path: string): Promise<CommitRecord> {
  if (!/^[0-9a-f]{4,40}$/.test(prefix)) throw new HttpError(400, "InvalidAction", `${path}: expected a commit id or an unambiguous prefix of at least 4 hex digits, got ${JSON.stringify(prefix.slice(0, 50))}`, path);
  const found = await store.commitsByPrefix(prefix, 3);
  if (found.length === 0) throw new HttpError(404, "UnknownRevision", `${path}: no commit of the branch the controller follows starts with ${prefix}`, path);
  if (found.length > 1) throw new HttpError(400, "AmbiguousRevision", `${path}: ${prefix} is ambiguous: ${found.map((c) => c.sha.slice(0, 12)).join(", ")}…; give more digits`, path);
  return found[0]!;
}

export interface ActDeps {
  store: Store;
  fleet: FleetView;
  now: () => number;
}

export interface ActResult {
  action: ActionRecord;
  /** Hosts whose agents should ask the gate again now (their watch is woken). */
  wake: Set<string>;
}

/** POST /api/v1/rollouts/{rev}/{pause,resume,abort,approve}. */
export async function actOnRollout(d: ActDeps, kind: RolloutActionKind, revArg: string, body: unknown, actor: string): Promise<ActResult> {
  const req = parseActionRequest(body, kind);
  const commit = await resolveRev(d.store, revArg, "rev");
  const rev = commit.sha;
  const { fleet } = await d.fleet.fleetAt(rev);
  const past = rolloutActions(await d.store.actions({ rev }), rev);
  if (past.aborted && kind !== "abort") {
    throw new HttpError(409, "RolloutAborted", `${kind}: the rollout of ${rev.slice(0, 12)} was aborted by ${past.aborted.actor} (${past.aborted.reason}); aborting is final, a new commit starts a new rollout`);
  }
  if (kind === "abort" && past.aborted) throw new HttpError(409, "RolloutAborted", `abort: the rollout of ${rev.slice(0, 12)} was already aborted by ${past.aborted.actor}`);
  if (kind === "pause" && past.paused) throw new HttpError(409, "AlreadyPaused", `pause: the rollout of ${rev.slice(0, 12)} is already paused by ${past.paused.actor} (${past.paused.reason})`);
  if (kind === "resume" && !past.paused) throw new HttpError(409, "NotPaused", `resume: the rollout of ${rev.slice(0, 12)} is not paused`);
  let wave: string | null = null;
  if (kind === "approve") {
    if (!fleet) throw new HttpError(409, "FleetUnusable", `approve: the fleet file at ${rev.slice(0, 12)} is unusable; nothing to approve`);
    const spec = fleet.waves.find((w) => w.name === req.wave);
    if (!spec) throw new HttpError(400, "UnknownWave", `approve: wave: the fleet file at ${rev.slice(0, 12)} has no wave "${req.wave}" (waves: ${fleet.waves.map((w) => w.name).join(", ")})`, "wave");
    if (spec.approval !== "manual") throw new HttpError(400, "NoApprovalNeeded", `approve: wave: wave "${spec.name}" does not declare approval: manual at ${rev.slice(0, 12)}; it opens on its own`, "wave");
    if (past.approvals.has(spec.name)) throw new HttpError(409, "AlreadyApproved", `approve: wave "${spec.name}" of ${rev.slice(0, 12)} was already approved by ${past.approvals.get(spec.name)!.actor}`);
    wave = spec.name;
  }
  const action = await d.store.recordAction({ action: kind, rev, wave, host: null, reason: req.reason, actor, timeMs: d.now() });
  return { action, wake: new Set(fleet?.hosts.map((h) => h.name) ?? []) };
}

/** POST /api/v1/hosts/{host}/{retry,hold,release}. */
export async function actOnHost(d: ActDeps, kind: HostActionKind, host: string, body: unknown, actor: string, failedRevs: (host: string) => Promise<string[]>): Promise<ActResult> {
  const req = parseActionRequest(body, kind);
  const fleet: Fleet | null = d.fleet.currentFleet();
  if (!fleet || !hostSpec(fleet, host)) throw new HttpError(404, "UnknownHost", `host "${host}" is not in the fleet file at the head`, "host");
  const holds = (await d.store.actions({ host, actions: ["hold", "release"], limit: 1 }))[0];
  const isHeld = holds?.action === "hold";
  if (kind === "hold" && isHeld) throw new HttpError(409, "AlreadyHeld", `hold: host ${host} is already held by ${holds.actor} (${holds.reason})`);
  if (kind === "release" && !isHeld) throw new HttpError(409, "NotHeld", `release: host ${host} is not held`);
  let rev: string | null = null;
  if (kind === "retry") {
    if (req.rev) rev = (await resolveRev(d.store, req.rev, "rev")).sha;
    else {
      const failed = await failedRevs(host);
      if (failed.length === 0) throw new HttpError(400, "NothingToRetry", `retry: host ${host} reported no failed revision; name one with "rev"`, "rev");
      rev = failed[failed.length - 1]!;
    }
  }
  const action = await d.store.recordAction({ action: kind, rev, wave: null, host, reason: req.reason, actor, timeMs: d.now() });
  return { action, wake: new Set([host]) };
}
