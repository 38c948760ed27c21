/**
 * Start-up half of a self-update. The agent that switched the profile saved
 * a PendingUpdate and exited 75; whichever agent starts next resolves it:
 *
 * - It *is* the new agent (FLOTILLA_AGENT_STARTED_FROM = the target): it
 *   must be able to report (the controller answers, when one is configured)
 *   before `switchedAt + healthDeadline`. Then `selfUpdate/succeeded`.
 *   Otherwise it sets the profile back to the recorded previous path (a
 *   static path, never `--rollback`), notes why in the record, and asks for
 *   exit 75, so the previous agent starts again.
 * - It is *not* the new agent: the new one crash-looped and the start wrapper
 *   went back, or it restored the previous agent itself (above). The agent
 *   running now reports `selfUpdate/failed` and remembers the target as
 *   failed. If the profile still points at the failed target (the wrapper
 *   had no confirmed target to go back to and ran its fallback package), it
 *   sets the profile to the recorded previous path.
 */
import { REASONS } from "../../../schemas/src/conditions.js";
import type { Logger } from "../../../common/src/log.js";
import { suEvent, type SelfUpdatePorts } from "./types.js";

export type ConfirmResult = "none" | "confirmed" | "restore" | "failed";

export interface ConfirmContext {
  startedFrom: string | null;
  /** Can this agent report now? (the controller answered, or none is configured) */
  canReport(): Promise<boolean>;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  log: Logger;
  signal?: AbortSignal;
  /** Pause between attempts. Default 2000 ms. */
  retryMs?: number;
}

export async function confirmAfterStart(ctx: ConfirmContext, ports: SelfUpdatePorts): Promise<ConfirmResult> {
  const record = await ports.loadRecord();
  const p = record.pending;
  if (!p) return "none";
  const failed = (target: string) => (record.failed.includes(target) ? record.failed : [...record.failed, target]);

  if (ctx.startedFrom === p.target && !p.restored) {
    const deadline = Date.parse(p.switchedAt) + p.deadlineMs;
    for (;;) {
      if (ctx.signal?.aborted) return "none"; // stopped: the next start decides
      if (await ctx.canReport().catch(() => false)) {
        await ports.saveRecord({ ...record, pending: null });
        const took = ports.now().getTime() - Date.parse(p.switchedAt);
        ctx.log.info("self-update confirmed", { target: p.target, version: p.version, ms: took });
        await ports.report(
          suEvent("succeeded", REASONS.SelfUpdateConfirmed, p.target, {
            previous: { rev: null, generation: p.previous },
            durations: { confirm: Math.max(0, took) },
            message: `the new agent${p.version ? ` ${p.version}` : ""} runs from ${p.target} and reports`,
          }),
        );
        return "confirmed";
      }
      const left = deadline - ports.now().getTime();
      if (left <= 0) break;
      await ctx.sleep(Math.min(ctx.retryMs ?? 2000, left), ctx.signal);
    }
    const message = `the new agent ${p.target} could not report within ${p.deadlineMs} ms of the switch`;
    if (!p.previous) {
      ctx.log.error(`${message}, and no previous agent is recorded; keeping it`);
      await ports.saveRecord({ ...record, pending: null });
      await ports.report(suEvent("failed", REASONS.SelfUpdateFailed, p.target, { error: { reason: REASONS.AgentHealthDeadline, message: `${message}; no previous agent recorded, kept` } }));
      return "failed";
    }
    ctx.log.error(`${message}; setting the agent profile back to ${p.previous} and restarting`);
    // Record first: if the switch back is interrupted, the next start still reports the failure.
    await ports.saveRecord({ ...record, pending: { ...p, restored: { reason: REASONS.AgentHealthDeadline, message } } });
    await ports.setProfile(p.previous);
    return "restore";
  }

  // The agent running now is not the new one.
  const error = p.restored ?? {
    reason: REASONS.AgentCrashLoop,
    message: `the new agent ${p.target} did not stay up; the start wrapper started ${ctx.startedFrom ?? "another agent"} instead`,
  };
  let note = "";
  if (p.previous && (await ports.profileTarget()) === p.target) {
    await ports.setProfile(p.previous);
    note = `; agent profile set back to ${p.previous}`;
  }
  await ports.saveRecord({ ...record, pending: null, failed: failed(p.target) });
  ctx.log.error(`self-update to ${p.target} failed: ${error.message}${note}`);
  await ports.report(
    suEvent("failed", REASONS.SelfUpdateFailed, p.target, {
      previous: { rev: null, generation: ctx.startedFrom },
      error: { reason: error.reason, message: `${error.message}${note}` },
      message: `running ${ctx.startedFrom ?? "an agent not started by flotilla-agent-start"}; ${p.target} is not installed again`,
    }),
  );
  return "failed";
}
