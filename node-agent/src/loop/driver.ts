/**
 * The only loop. Load the state, converge it (crash recovery), then run one
 * handler at a time: each does at most one side-effecting step and returns
 * the next state; the driver queues the transition events on disk and saves
 * the state atomically before the next handler runs. So `activating` is on
 * disk before the switch, and a crash anywhere is an ordinary transition:
 *
 *   fetched, built       → resume (nothing irreversible happened yet)
 *   activating           → ask the host what it runs (System.applied): the
 *                          target, completely → verify it; the target, maybe
 *                          partly → switch to it again (idempotent); else
 *                          roll back to the recorded previous generation
 *                          (the switch may be half done). Not blamed on the
 *                          revision unless it keeps happening
 *   verifying            → verify again from scratch, on the recorded generation
 *   rollingBack          → run the (idempotent) rollback again
 *   done (hook pending)  → run the post-deploy hook
 *   rollbackFailed       → stalled until `flotilla-agent retry`
 */
import type { Fleet } from "../../../common/src/fleet/model.js";
import { REASONS } from "../../../schemas/src/conditions.js";
import { errorInfo, errorKind } from "../errors.js";
import type { AgentDeps, Applied, MaintenanceTask } from "../ports.js";
import { hostAt, interruptionBlamed, loopContext, nowIso, type LoopContext, type Step } from "./context.js";
import type { StepLog } from "../../../schemas/src/api.js";
import type { EventDraft } from "./events.js";
import { activate } from "./handlers/activating.js";
import { build } from "./handlers/build.js";
import { prepareActivation } from "./handlers/built.js";
import { finish } from "./handlers/done.js";
import { poll } from "./handlers/poll.js";
import { rollBack } from "./handlers/rolling-back.js";
import { verify } from "./handlers/verifying.js";
import { afterReboot } from "./reboot.js";
import { initialState, type AgentState, type CycleIn } from "./phases.js";
import { applyDirective, applyRetry, wasApplied } from "./retry.js";
import type { RetryDirective } from "../../../schemas/src/api.js";

export type CycleCode = "ok" | "waiting" | "failed" | "stalled" | "error";

export interface CycleResult {
  code: CycleCode;
  reason: string;
  message: string;
  state: AgentState;
  /** The branch head this cycle's poll saw (null when it did not get that far). */
  head: string | null;
}

/**
 * Where a stop request (SIGTERM) may end a cycle: before a step starts that
 * would be resumed as it is at the next start. Never between saving
 * `activating` and the switch, nor inside a rollback: those run to the end
 * (the daemon bounds how long it waits), so a stop never leaves a half-done
 * switch behind and never makes the next start roll back a switch that
 * completed.
 */
/** The step each working phase's handler runs (the `step` of its output tail). */
const STEP_OF_PHASE: Partial<Record<string, StepLog["step"]>> = {
  fetched: "build",
  built: "preDeploy",
  activating: "activate",
  verifying: "verify",
  rollingBack: "rollback",
  done: "postDeploy",
};

const STOP_BEFORE: ReadonlySet<string> = new Set(["fetched", "built", "verifying", "done"]);

function needsWork(state: AgentState): boolean {
  const c = state.cycle;
  if (c.phase === "done") return c.postDeploy === "pending";
  return c.phase === "fetched" || c.phase === "built" || c.phase === "activating" || c.phase === "verifying" || c.phase === "rollingBack";
}

async function handle(ctx: LoopContext, state: AgentState): Promise<Step> {
  const c = state.cycle;
  switch (c.phase) {
    case "fetched":
      return build(ctx, state, c);
    case "built":
      return prepareActivation(ctx, state, c);
    case "activating":
      return activate(ctx, state, c);
    case "verifying":
      return verify(ctx, state, c);
    case "rollingBack":
      return rollBack(ctx, state, c);
    case "done":
      return finish(ctx, state, c);
    default:
      throw new Error(`no handler for resting phase ${c.phase}`);
  }
}

export class Driver {
  private readonly ctx: LoopContext;
  private readonly tasks: MaintenanceTask[] = [];
  private state: AgentState | null = null;
  /** Events of a commit whose writing failed, in order; written first at the next commit. */
  private readonly unsaved: EventDraft[] = [];
  /** The state in memory is newer than the state file (its save failed). */
  private dirty = false;
  /** Crash convergence ran for the state loaded from disk (it concerns a restart, so it runs once). */
  private recovered = false;
  /** The newest operator retry directive the controller's watch delivered, applied at the next cycle. */
  private directive: RetryDirective | null = null;

  constructor(private readonly deps: AgentDeps) {
    this.ctx = loopContext(deps);
  }

  /** Registers a task that runs between cycles (self-update, cleanup…). */
  addMaintenanceTask(task: MaintenanceTask): void {
    this.tasks.push(task);
  }

  current(): AgentState | null {
    return this.state;
  }

  /** An operator retry from the controller (a watch answer): applied at the next cycle, once per id. */
  offerRetry(d: RetryDirective): void {
    if (!this.directive || d.id > this.directive.id) this.directive = d;
  }

  /** Did this agent already apply the controller's retry directive `id`? */
  applied(id: number): boolean {
    return !!this.state && wasApplied(this.state, id);
  }

  private async commit(next: AgentState, events: EventDraft[]): Promise<AgentState> {
    // What happened on the host has happened: memory follows the host even
    // when the disk cannot (ENOSPC, a read-only remount). A state or events
    // that could not be written stay pending and are written before anything
    // else at the next commit or cycle; until then the cycle fails with the
    // write error and the daemon backs off. The next cycle of this process
    // then continues from `next` (a switch that completed is verified, not
    // taken for an interrupted one and rolled back).
    this.state = next;
    this.unsaved.push(...events);
    this.dirty = true;
    // Events first (durable on disk), then the state: a crash in between
    // repeats a transition at the next start; it never loses one.
    while (this.unsaved.length) {
      await this.deps.reporter.event(this.unsaved[0]!, next);
      this.unsaved.shift();
    }
    await this.deps.store.save(next);
    this.dirty = false;
    this.deps.metrics?.observe(next, this.deps.reporter.queueLength());
    if (this.deps.afterSave) await this.deps.afterSave(next.cycle.phase);
    return next;
  }

  /** Writes a state (and its events) that an earlier commit could not save. */
  private async flushUnsaved(state: AgentState): Promise<AgentState> {
    if (!this.dirty) return state;
    this.deps.log.info("writing the state that could not be saved earlier", { phase: state.cycle.phase, events: this.unsaved.length });
    return this.commit(state, []);
  }

  async load(): Promise<AgentState> {
    const loaded = await this.deps.store.load();
    this.state = loaded ?? initialState(this.deps.settings.host, nowIso(this.ctx));
    if (loaded?.trustedHead) {
      const f = await this.ctx.fleetAt(loaded.trustedHead).catch(() => null);
      this.deps.reporter.setController(this.deps.settings.controller ?? f?.fleet?.policy.controller ?? null);
    } else {
      this.deps.reporter.setController(this.deps.settings.controller);
    }
    this.deps.metrics?.observe(this.state, this.deps.reporter.queueLength());
    return this.state;
  }

  /** Applies `flotilla-agent retry` and converges a state left mid-cycle by a crash. */
  private async recover(state: AgentState): Promise<AgentState> {
    const retry = await this.deps.store.pendingRetry();
    if (retry) {
      const retried = applyRetry(state, retry.rev, nowIso(this.ctx));
      const cycle = retried.cycle;
      this.deps.log.info("operator retry applied", { rev: retry.rev ?? "all", phase: cycle.phase });
      // --accept-rewrite: the operator vouches for a rewritten branch on this host,
      // so the next head is judged on its own fleet file (fast-forward and
      // signer policy start again from it).
      const trusted = retry.acceptRewrite ? { trustedHead: null } : {};
      if (retry.acceptRewrite) this.deps.log.warn("operator accepted a rewritten history: the trusted head is forgotten", { was: state.trustedHead });
      const message = retry.acceptRewrite ? "operator retry, accepting a rewritten history" : "operator retry";
      state = await this.commit({ ...retried, ...trusted }, [
        { phase: cycle.phase, outcome: "started", reason: REASONS.Progressing, rev: retry.rev, generation: null, message },
      ]);
      await this.deps.store.clearRetry();
    }
    const directive = this.directive;
    this.directive = null;
    if (directive && !wasApplied(state, directive.id)) state = await this.commitDirective(state, directive);
    const c = state.cycle;
    // Only the state found on disk at start can be left by a restart. Later in
    // this process an unfinished cycle (a failed save, a handler's error) is
    // simply driven on from where memory says the host is.
    const restarted = !this.recovered;
    this.recovered = true;
    if (!restarted || !needsWork(state)) return state;
    this.deps.log.warn("resuming a cycle interrupted by a restart", { phase: c.phase, rev: "target" in c && c.target ? c.target.rev : null });
    if (c.phase === "activating") {
      const applied = await this.whatHostRuns(c);
      if (applied?.complete) {
        this.deps.log.info("the switch completed before the restart; verifying it", { rev: c.target.rev, generation: c.generation });
        const message = `the agent restarted after activating ${c.generation} completed and before recording it; verifying it`;
        return this.commit({ ...state, cycle: { ...c, phase: "verifying" }, updatedAt: nowIso(this.ctx) }, [
          { phase: "activating", outcome: "succeeded", reason: REASONS.Progressing, rev: c.target.rev, generation: c.generation, durations: c.durations, message },
        ]);
      }
      if (applied && !interruptionBlamed(this.ctx, state, c.target.rev)) {
        this.deps.log.warn("the host runs the target already; switching to it again to complete an interrupted switch", { rev: c.target.rev, generation: c.generation });
        const count = (state.interruptions?.rev === c.target.rev ? state.interruptions.count : 0) + 1;
        const message = `the agent stopped while activating ${c.generation}, which the host runs already; switching to it again to complete the switch`;
        return this.commit({ ...state, cycle: { ...c, attempt: c.attempt + 1 }, interruptions: { rev: c.target.rev, count }, updatedAt: nowIso(this.ctx) }, [
          { phase: "activating", outcome: "started", reason: REASONS.Interrupted, rev: c.target.rev, generation: c.generation, message },
        ]);
      }
      const blamed = interruptionBlamed(this.ctx, state, c.target.rev);
      const error = { reason: REASONS.Interrupted, message: `the agent stopped while activating ${c.generation}; the switch may be incomplete, restoring ${c.previous?.generation ?? "nothing"}` };
      return this.commit({ ...state, cycle: { ...c, phase: "rollingBack", error, blameTarget: blamed, health: [] }, updatedAt: nowIso(this.ctx) }, [
        { phase: "activating", outcome: "failed", reason: REASONS.Interrupted, rev: c.target.rev, generation: c.generation, error, blamed },
        { phase: "rollingBack", outcome: "started", reason: REASONS.Interrupted, rev: c.target.rev, generation: c.generation, previous: c.previous ?? undefined, blamed },
      ]);
    }
    const rev = "target" in c && c.target ? c.target.rev : null;
    return this.commit({ ...state, updatedAt: nowIso(this.ctx) }, [
      { phase: c.phase, outcome: "started", reason: REASONS.Interrupted, rev, generation: "generation" in c ? c.generation : null, message: `resuming ${c.phase} after a restart` },
    ]);
  }

  /** Applies a controller retry directive (recording its id) and reports it. */
  private async commitDirective(state: AgentState, d: RetryDirective): Promise<AgentState> {
    const next = applyDirective(state, d, nowIso(this.ctx));
    this.deps.log.info("operator retry from the controller applied", { id: d.id, rev: d.rev, phase: next.cycle.phase });
    return this.commit(next, [
      { phase: next.cycle.phase, outcome: "started", reason: REASONS.OperatorRetry, rev: d.rev, generation: null, blamed: false, message: `operator retry #${d.id} from the controller: ${d.rev.slice(0, 12)} is no longer remembered as failed` },
    ]);
  }

  /** What the host runs, when it is the target of the interrupted activation `c` (errors: unknown). */
  private async whatHostRuns(c: CycleIn<"activating">): Promise<Applied | null> {
    try {
      const { host } = await hostAt(this.ctx, c.target.head);
      const applied = await this.deps.systems[host.kind].applied?.(host);
      if (!applied || applied.generation !== c.generation || (applied.rev !== null && applied.rev !== c.target.rev)) return null;
      return applied;
    } catch (e) {
      this.deps.log.warn("cannot tell what the host runs after the restart; rolling back to be safe", { error: (e as Error).message });
      return null;
    }
  }

  private async drive(state: AgentState, signal?: AbortSignal): Promise<AgentState> {
    while (needsWork(state) && !(signal?.aborted && STOP_BEFORE.has(state.cycle.phase))) {
      const step = STEP_OF_PHASE[state.cycle.phase];
      this.deps.output?.reset();
      let s: Step;
      try {
        s = await handle(this.ctx, state);
      } catch (e) {
        this.deps.output?.reset();
        throw e;
      }
      state = await this.commit(s.state, await this.withLog(s.events, step));
    }
    return state;
  }

  /**
   * The step's output tail goes with its first event (the one saying how the
   * step ended: `build failed`, `verifying failed`…), redacted and capped
   * before it is queued on disk.
   */
  private async withLog(events: EventDraft[], step: StepLog["step"] | undefined): Promise<EventDraft[]> {
    const out = this.deps.output;
    if (!out || !step) return events;
    const tail = await out.take();
    if (!tail || events.length === 0) return events;
    return [{ ...events[0]!, log: { step, text: tail.text, truncated: tail.truncated } }, ...events.slice(1)];
  }

  /** One cycle: converge, poll once, deploy if there is something new, stop at a resting phase. */
  async runCycle(signal?: AbortSignal): Promise<CycleResult> {
    let state = this.state ?? (await this.load());
    try {
      state = await this.flushUnsaved(state);
      state = await this.recover(state);
      state = await this.drive(state, signal);
      // A reboot may have made a staged (operation boot) generation verifiable, or cleared needsReboot.
      // Reboot coordination takes a lease, then (saved) runs the reboot: up to two steps.
      for (let i = 0; i < 2; i++) {
        const rebooted = await afterReboot(this.ctx, state);
        if (!rebooted) break;
        state = await this.drive(await this.commit(rebooted.state, rebooted.events), signal);
      }
      if (state.cycle.phase === "rollbackFailed") return this.summarize(state, null);
      if (signal?.aborted) return this.stopped(state, null);
      let polled = await poll(this.ctx, state);
      this.deps.metrics?.poll(polled.kind === "unchanged" ? "unchanged" : "changed");
      if (polled.kind === "retry") {
        // The gate answer carried an operator retry: apply it, then evaluate the head again at once.
        state = await this.commitDirective(state, polled.directive);
        polled = await poll(this.ctx, state);
      }
      if (polled.kind === "step") {
        const changed = polled.step.state !== state;
        state = changed ? await this.commit(polled.step.state, polled.step.events) : state;
        state = await this.drive(state, signal);
      }
      if (signal?.aborted && needsWork(state)) return this.stopped(state, polled.head);
      return this.summarize(state, polled.head);
    } catch (e) {
      this.deps.metrics?.poll("error");
      const err = errorInfo(e);
      const kind = errorKind(e);
      this.deps.log.error("cycle failed", { reason: err.reason, kind, error: err.message });
      return { code: kind === "waiting" ? "waiting" : "error", reason: err.reason, message: err.message, state: this.state ?? state, head: null };
    }
  }

  /** agent.* settings of the trusted fleet file (poll interval, jitter…), when known. */
  async fleetAgentSettings(): Promise<Fleet["agent"] | null> {
    const head = this.state?.trustedHead;
    if (!head) return null;
    return (await this.ctx.fleetAt(head).catch(() => null))?.fleet?.agent ?? null;
  }

  async runMaintenance(signal: AbortSignal): Promise<void> {
    if (!this.state) return;
    for (const task of this.tasks) {
      if (signal.aborted) return;
      try {
        await task.run({ state: this.state, log: this.deps.log.child(task.name), signal });
      } catch (e) {
        this.deps.log.error("maintenance task failed", { task: task.name, error: (e as Error).message });
      }
    }
  }

  private stopped(state: AgentState, head: string | null): CycleResult {
    return { code: "error", reason: REASONS.Interrupted, message: `stopped in ${state.cycle.phase} (saved; the next start resumes it)`, state, head };
  }

  private summarize(state: AgentState, head: string | null): CycleResult {
    return { ...this.outcome(state, head), head };
  }

  private outcome(state: AgentState, head: string | null): Omit<CycleResult, "head"> {
    const c = state.cycle;
    const remembered = (rev: string) =>
      state.failedRevs.some((f) => f.rev === rev) ? `; ${rev.slice(0, 12)} is remembered as failed and not retried until a newer commit arrives or an operator runs \`flotilla-agent retry\`` : "";
    const cur = state.current ? `${state.current.rev.slice(0, 12)} (${state.current.generation})` : "nothing";
    switch (c.phase) {
      case "rollbackFailed":
        return { code: "stalled", reason: c.rollbackError.reason, message: `rollback failed: ${c.rollbackError.message}`, state };
      case "firstDeployFailed":
        return {
          code: "stalled",
          reason: REASONS.NoPreviousGeneration,
          message: `first deploy of ${c.target.rev.slice(0, 12)} failed after switching (${c.error.reason}: ${c.error.message}); nothing to roll back to: ${c.generation} stays active, unverified, until a newer commit or \`flotilla-agent retry\``,
          state,
        };
      case "rolledBack":
        return { code: "failed", reason: c.error.reason, message: `deploy of ${c.target.rev.slice(0, 12)} failed (${c.error.message}); rolled back to ${cur}${remembered(c.target.rev)}`, state };
      case "failed":
        return { code: "failed", reason: c.error.reason, message: `${c.error.message}${c.target ? remembered(c.target.rev) : ""}`, state };
    }
    if (c.phase === "done" && c.pendingReboot) {
      return { code: "ok", reason: REASONS.PendingReboot, message: `${c.target.rev.slice(0, 12)} (${c.generation}) is staged for the next boot, its health unverified until the host has booted it; running ${cur}`, state };
    }
    const last = state.lastOutcome;
    if (head && state.noticedHead === head && last && last.rev !== null) {
      if (last.outcome === "waiting") return { code: "waiting", reason: last.reason, message: last.message ?? "waiting for the wave gate", state };
      if (last.outcome === "skipped") return { code: "failed", reason: last.reason, message: last.message ?? "target skipped", state };
    }
    if (!state.current) return { code: "failed", reason: "NoGeneration", message: "no verified generation yet", state };
    return { code: "ok", reason: REASONS.Succeeded, message: `healthy on ${cur}`, state };
  }
}
