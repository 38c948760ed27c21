/**
 * The self-update step sequence: build → self-test → record → switch the
 * agent profile → ask for exit 75. Each step is reported as an event of phase
 * "selfUpdate"; skips (up to date, previously failed, no start wrapper) are
 * reported once. Nothing here touches the host directly: every side effect
 * goes through SelfUpdatePorts.
 *
 * The record (PendingUpdate) is saved *before* the profile switch, as the
 * driver saves `activating` before a system switch: whatever happens next,
 * the next agent to start knows what was attempted and what to go back to.
 */
import { REASONS } from "../../../schemas/src/conditions.js";
import type { Logger } from "../../../common/src/log.js";
import { installableOf, suEvent, type SelfUpdatePorts, type SelfUpdateSpec } from "./types.js";

export type UpdateResult =
  | { kind: "restart"; target: string }
  | { kind: "skipped"; reason: string }
  | { kind: "failed"; reason: string; message: string };

export interface UpdateContext {
  spec: SelfUpdateSpec;
  /** FLOTILLA_AGENT_STARTED_FROM: the store path the start wrapper ran; null when started some other way. */
  startedFrom: string | null;
  /** Nix system double, for the default attribute. */
  system: string;
  log: Logger;
  signal?: AbortSignal;
}

const msg = (e: unknown) => (e instanceof Error ? e.message : String(e));

export async function runSelfUpdate(ctx: UpdateContext, ports: SelfUpdatePorts): Promise<UpdateResult> {
  const { spec, log } = ctx;
  const installable = installableOf(spec, ctx.system);
  let record = await ports.loadRecord();

  // Reports a skip once per key (a schedule of every minute must not flood the controller).
  const skip = async (key: string, reason: string, generation: string | null, message: string): Promise<UpdateResult> => {
    log.info(`self-update skipped: ${message}`, { reason });
    if (record.noticed !== key) {
      record = { ...record, noticed: key };
      await ports.saveRecord(record);
      await ports.report(suEvent("skipped", reason, generation, { message }));
    }
    return { kind: "skipped", reason };
  };
  const fail = async (reason: string, generation: string | null, message: string, durations?: Record<string, number>): Promise<UpdateResult> => {
    log.error(`self-update failed: ${message}`, { reason });
    await ports.report(suEvent("failed", REASONS.SelfUpdateFailed, generation, { error: { reason, message }, ...(durations ? { durations } : {}) }));
    return { kind: "failed", reason, message };
  };

  if (!ctx.startedFrom) {
    return skip("unsupported", REASONS.SelfUpdateUnsupported, null, "FLOTILLA_AGENT_STARTED_FROM is unset: the agent was not started by flotilla-agent-start, so a switched agent profile would never run; self-update is off");
  }
  if (record.pending) {
    // Only the next agent's start-up resolves a pending update (confirm.ts).
    return skip(`pending:${record.pending.target}`, REASONS.SelfUpdateFailed, record.pending.target, `an earlier self-update to ${record.pending.target} is still unconfirmed; restart the agent to resolve it`);
  }

  const t0 = ports.now().getTime();
  let out: string;
  try {
    out = await ports.build(installable, ctx.signal);
  } catch (e) {
    return fail(REASONS.BuildFailed, null, `nix build ${installable} failed: ${msg(e)}`, { build: ports.now().getTime() - t0 });
  }
  const durations: Record<string, number> = { build: ports.now().getTime() - t0 };

  const profileNow = await ports.profileTarget();
  if (out === ctx.startedFrom || out === profileNow) {
    return skip(`up-to-date:${out}`, REASONS.AgentUpToDate, out, `${installable} is ${out}, the agent already ${out === ctx.startedFrom ? "running" : "in the agent profile"}`);
  }
  const wrapperFailed = await ports.wrapperFailed();
  if (record.failed.includes(out) || wrapperFailed === out) {
    return skip(`failed:${out}`, REASONS.PreviouslyFailed, out, `${out} failed to come up healthy before (${wrapperFailed === out ? "the start wrapper judged it crash-looping" : "self-update record"}); it is not installed again`);
  }
  await ports.report(suEvent("started", REASONS.SelfUpdateBuilt, out, { durations, message: `built ${installable}` }));

  const t1 = ports.now().getTime();
  const test = await ports.selfTest(out, ctx.signal).catch((e: unknown) => ({ ok: false, version: null, detail: msg(e) }));
  durations.selfTest = ports.now().getTime() - t1;
  if (!test.ok) return fail(REASONS.SelfTestFailed, out, `self-test of ${out} failed: ${test.detail}`, durations);
  await ports.report(suEvent("started", REASONS.SelfTestPassed, out, { durations, message: `self-test passed: ${test.detail}` }));

  const previous = ctx.startedFrom;
  record = {
    ...record,
    noticed: null,
    pending: { target: out, previous, installable, version: test.version, switchedAt: ports.now().toISOString(), deadlineMs: spec.healthDeadlineMs },
  };
  await ports.saveRecord(record); // before the switch: the next start must know what to confirm or undo
  try {
    await ports.setProfile(out);
  } catch (e) {
    await ports.saveRecord({ ...record, pending: null });
    return fail(REASONS.ProfileSwitchFailed, out, `setting the agent profile to ${out} failed: ${msg(e)}`, durations);
  }
  await ports.report(
    suEvent("started", REASONS.AgentProfileSwitched, out, {
      previous: { rev: null, generation: previous },
      durations,
      message: `agent profile set to ${out}${test.version ? ` (version ${test.version})` : ""}; exiting 75 to restart into it; it must report within ${spec.healthDeadlineMs} ms`,
    }),
  );
  return { kind: "restart", target: out };
}
