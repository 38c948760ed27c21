/**
 * Poll (from a resting phase): is there something new to deploy?
 *
 * Every poll is one `git fetch` of the branch into the cache, which also
 * tells its head (an unchanged head transfers no pack). When it moved: refuse
 * non-fast-forward moves (unless the *trusted* fleet allows rewrites), read
 * fleet.yaml at the new head, check commit signatures when required, then
 * resolve the target (pin > wave gate > head). A refusal
 * or a wait is reported once per head; the host keeps what it runs.
 */
import { needsGate, resolveTarget } from "../../../../common/src/plan/resolve.js";
import { windowHold } from "../../../../common/src/plan/window-hold.js";
import type { Fleet } from "../../../../common/src/fleet/model.js";
import { REASONS } from "../../../../schemas/src/conditions.js";
import {
  FetchError,
  HostNotInFleetError,
  InvalidFleetFileError,
  NonFastForwardError,
  UnsignedCommitError,
  type AgentError,
} from "../../errors.js";
import type { EventDraft } from "../events.js";
import type { AgentState, Target } from "../phases.js";
import type { RetryDirective } from "../../../../schemas/src/api.js";
import { wasApplied } from "../retry.js";
import { elapsed, nowIso, step, type LoopContext, type Step } from "../context.js";

export type PollResult =
  | { kind: "unchanged"; head: string }
  | { kind: "step"; head: string; step: Step }
  /** The gate answer carried an operator retry this agent has not applied: apply it, then poll again. */
  | { kind: "retry"; head: string; directive: RetryDirective };

export async function poll(ctx: LoopContext, state: AgentState): Promise<PollResult> {
  const { deps } = ctx;
  const t0 = deps.clock.now().getTime();
  let remote: string;
  let head: string;
  try {
    ({ remote, sha: head } = await deps.source.head());
  } catch (cause) {
    throw new FetchError(`cannot fetch the branch head: ${(cause as Error).message}`, { cause });
  }
  if (head === state.lastHead) return { kind: "unchanged", head };

  // head() fetched the branch: this is a no-op for its head (the Source port allows a head() that only reads it).
  try {
    await deps.source.fetch(remote, head);
  } catch (cause) {
    throw new FetchError(`fetching ${head.slice(0, 12)} from the fleet remote failed: ${(cause as Error).message}`, { cause });
  }
  const fetchMs = elapsed(ctx, t0);

  const refuse = (error: AgentError, extra: Partial<AgentState> = {}): PollResult => {
    const e = { reason: error.reason, message: error.message };
    deps.log.error("refusing the new head", { head, reason: e.reason, error: e.message });
    const ev: EventDraft = { phase: "failed", outcome: "refused", reason: e.reason, rev: head, generation: null, error: e, durations: { fetch: fetchMs } };
    return {
      kind: "step",
      head,
      step: step(ctx, state, { phase: "failed", target: null, head, error: e, startedAt: nowIso(ctx), durations: { fetch: fetchMs } }, [ev], {
        lastHead: head,
        noticedHead: head,
        ...extra,
      }),
    };
  };

  // Judge the move with the policy of the last trusted fleet, never the new one.
  let trusted: Fleet | undefined;
  if (state.trustedHead && state.trustedHead !== head) {
    trusted = (await ctx.fleetAt(state.trustedHead)).fleet;
    if (!(await deps.source.isAncestor(state.trustedHead, head)) && !(trusted?.policy.allowRewrites ?? false)) {
      return refuse(
        new NonFastForwardError(
          `branch moved from ${state.trustedHead.slice(0, 12)} to ${head.slice(0, 12)} by a non-fast-forward (force-push); refused because the fleet does not set policy.allowRewrites`,
        ),
      );
    }
  }

  const loaded = await ctx.fleetAt(head);
  if (!loaded.fleet) {
    return refuse(new InvalidFleetFileError(`fleet.yaml at ${head.slice(0, 12)} is invalid; keeping the current generation:\n${loaded.errors.join("\n")}`));
  }
  const fleet = loaded.fleet;

  const signing = trusted?.policy.requireSignedCommits ? trusted.policy : fleet.policy;
  const verify = async (rev: string): Promise<PollResult | null> => {
    if (!signing.requireSignedCommits) return null;
    const check = await deps.source.verifySignature(rev, signing.allowedSigners);
    if (check.ok) {
      deps.log.info("commit signature verified", { rev, signer: check.signer });
      return null;
    }
    return refuse(new UnsignedCommitError(`commit ${rev.slice(0, 12)} has no valid ssh signature by an allowed signer (${check.detail}); the fleet requires signed commits`));
  };
  const headRefused = await verify(head);
  if (headRefused) return headRefused;

  const host = fleet.hosts.find((h) => h.name === deps.settings.host);
  if (!host) return refuse(new HostNotInFleetError(`host "${deps.settings.host}" is not listed in fleet.yaml at ${head.slice(0, 12)}`));

  deps.reporter.setController(deps.settings.controller ?? fleet.policy.controller ?? null);
  // With a controller, every host asks, also one that needs no gate (first wave, pinned):
  // operator actions (hold, pause, abort, retry) reach it in the answer. For such a host
  // no answer still means "proceed" (resolveTarget), so pull resilience is kept.
  const gate = needsGate(fleet, host.name) || deps.reporter.controller() ? await deps.gate.ask(head) : null;
  if (gate?.retry && gate.rev === head && !wasApplied(state, gate.retry.id)) return { kind: "retry", head, directive: gate.retry };
  let resolved = resolveTarget(fleet, host.name, head, gate);
  // The agent applies its maintenance window itself: first-wave hosts need no
  // gate, and a host must keep to its window without a controller.
  const held = (resolved.kind === "head" || resolved.kind === "gate-open") && state.current?.rev !== resolved.rev ? windowHold(host, deps.clock.now().getTime()) : null;
  if (held) resolved = { kind: "wait", rev: null, wave: host.wave, reason: held.reason };

  if (resolved.kind === "not-in-fleet") return refuse(new HostNotInFleetError(resolved.reason));
  if (resolved.kind === "wait") {
    // Not final: the gate is asked again at the next poll, so lastHead stays.
    const operator: Record<string, string> = { held: REASONS.OperatorHold, paused: REASONS.OperatorPaused, aborted: REASONS.OperatorAborted, halted: REASONS.GateHalted };
    const reason = held ? REASONS.OutsideWindow : gate ? (operator[gate.decision] ?? REASONS.GateWaiting) : REASONS.ControllerUnreachable;
    deps.log.info(held ? "waiting for the maintenance window" : "waiting for the wave gate", { head, wave: resolved.wave, reason: resolved.reason });
    const same = state.noticedHead === head && state.lastOutcome?.outcome === "waiting" && state.lastOutcome.message === resolved.reason;
    if (same) {
      // Nothing new to say: hand back the same state object, so the driver does not
      // rewrite the state file on every poll while the gate stays shut.
      const unchanged = state.trustedHead === head ? state : { ...state, trustedHead: head };
      return { kind: "step", head, step: { state: unchanged, events: [] } };
    }
    const ev: EventDraft = { phase: "idle", outcome: "waiting", reason, rev: head, generation: state.current?.generation ?? null, message: resolved.reason };
    return { kind: "step", head, step: step(ctx, state, state.cycle, [ev], { trustedHead: head, noticedHead: head }) };
  }

  const rev = resolved.rev;
  if (rev !== head) {
    if (!(await deps.source.hasCommit(rev))) {
      try {
        await deps.source.fetch(remote, rev);
      } catch {
        // reported below
      }
      if (!(await deps.source.hasCommit(rev))) {
        return refuse(new FetchError(`pinned revision ${rev.slice(0, 12)} is not in the history of branch ${head.slice(0, 12)}`));
      }
    }
    const pinRefused = await verify(rev);
    if (pinRefused) return pinRefused;
  }

  const accepted: Partial<AgentState> = { lastHead: head, trustedHead: head };
  if (state.current?.rev === rev) {
    deps.log.info("already on the target", { rev, resolution: resolved.kind });
    const cycle = state.cycle.phase === "done" ? state.cycle : ({ phase: "idle" } as const);
    return { kind: "step", head, step: { state: { ...state, ...accepted, cycle, noticedHead: null, updatedAt: nowIso(ctx) }, events: [] } };
  }
  const failed = state.failedRevs.find((f) => f.rev === rev);
  if (failed) {
    if (state.noticedHead === head) return { kind: "step", head, step: { state: { ...state, ...accepted }, events: [] } };
    const message = `revision ${rev.slice(0, 12)} failed before (${failed.reason}); not retried until a newer commit arrives or an operator runs \`flotilla-agent retry\``;
    deps.log.warn("skipping a failed revision", { rev, reason: failed.reason });
    const ev: EventDraft = { phase: "failed", outcome: "skipped", reason: REASONS.PreviouslyFailed, rev, generation: null, message };
    return { kind: "step", head, step: step(ctx, state, state.cycle, [ev], { ...accepted, noticedHead: head }) };
  }

  const target: Target = { rev, head, kind: host.kind, resolution: resolved.kind, remote, policyHead: trusted ? state.trustedHead! : head };
  const ev: EventDraft = {
    phase: "fetched",
    outcome: "succeeded",
    reason: REASONS.Progressing,
    rev,
    generation: null,
    previous: { rev: state.current?.rev ?? null, generation: state.current?.generation ?? null },
    durations: { fetch: fetchMs },
    message: `target ${rev.slice(0, 12)} (${resolved.kind}, wave ${resolved.wave})`,
  };
  deps.log.info("new target", { rev, head, resolution: resolved.kind, wave: resolved.wave });
  return {
    kind: "step",
    head,
    step: step(ctx, state, { phase: "fetched", target, startedAt: nowIso(ctx), durations: { fetch: fetchMs } }, [ev], { ...accepted, noticedHead: null }),
  };
}

