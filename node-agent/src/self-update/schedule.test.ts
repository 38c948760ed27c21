import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { canSelfUpdate } from "./service.js";
import { SelfUpdateSchedule, type Cron } from "./schedule.js";
import type { CronTaskOptions } from "./cron-task.js";
import type { CronSpec } from "../../../common/src/cron.js";
import type { SelfUpdateSpec } from "./types.js";
import type { AgentState } from "../loop/phases.js";
import { initialState } from "../loop/phases.js";

const spec = (over: Partial<SelfUpdateSpec> = {}): SelfUpdateSpec => ({ source: "x", schedule: "0 4 * * *", randomDelayMs: 900_000, healthDeadlineMs: 120_000, ...over });

/** Records what the cron task was asked to do; `fn` runs a tick as the task would (it awaits it). */
function fakeCron() {
  const tasks: { expr: string; fn: () => Promise<unknown>; options: CronTaskOptions; destroyed: boolean }[] = [];
  const cron: Cron = {
    schedule: (spec: CronSpec, fn: () => Promise<unknown>, options: CronTaskOptions) => {
      const t = { expr: spec.source, fn, options, destroyed: false };
      tasks.push(t);
      return { destroy: () => void (t.destroyed = true) };
    },
  };
  return { cron, tasks };
}

describe("SelfUpdateSchedule", () => {
  it("schedules with noOverlap and the random delay; a tick stays pending (due) until the maintenance task finishes it", async () => {
    const { cron, tasks } = fakeCron();
    const s = new SelfUpdateSchedule({ log: memoryLogger(), cron });
    s.sync(spec());
    expect(tasks).toHaveLength(1);
    expect(tasks[0]!.options).toMatchObject({ noOverlap: true, maxRandomDelayMs: 900_000 });
    expect(s.due()).toBe(false);
    let ended = false;
    const tick = tasks[0]!.fn().then(() => (ended = true));
    expect(s.due()).toBe(true);
    await Promise.resolve();
    expect(ended).toBe(false); // the task sees the run still pending: noOverlap skips further ticks
    s.finish();
    await tick;
    expect(ended).toBe(true);
    expect(s.due()).toBe(false);
  });

  it("re-schedules when the schedule or delay in the fleet file changes, and stops when self-update is removed", () => {
    const { cron, tasks } = fakeCron();
    const s = new SelfUpdateSchedule({ log: memoryLogger(), cron });
    s.sync(spec());
    s.sync(spec({ source: "y" })); // same schedule: same task, new spec
    expect(tasks).toHaveLength(1);
    expect(s.spec()?.source).toBe("y");
    s.sync(spec({ schedule: "0 5 * * *" }));
    expect(tasks.map((t) => [t.expr, t.destroyed])).toEqual([["0 4 * * *", true], ["0 5 * * *", false]]);
    s.sync(undefined);
    expect(tasks[1]!.destroyed).toBe(true);
    expect(s.spec()).toBeNull();
  });

  it("with the real cron task, a due update blocks later ticks (noOverlap)", async () => {
    const s = new SelfUpdateSchedule({ log: memoryLogger() });
    s.sync(spec({ schedule: "* * * * * *", randomDelayMs: 0 }));
    let firstDue = 0;
    const started = Date.now();
    while (!s.due() && Date.now() - started < 3000) await new Promise((r) => setTimeout(r, 20));
    expect(s.due()).toBe(true);
    firstDue = Date.now();
    await new Promise((r) => setTimeout(r, 2200)); // two more ticks pass while it is due
    expect(s.due()).toBe(true);
    s.finish();
    expect(s.due()).toBe(false);
    while (!s.due() && Date.now() - firstDue < 6000) await new Promise((r) => setTimeout(r, 20));
    expect(s.due()).toBe(true); // the next tick after finishing fires again
    s.stop();
  }, 15_000);
});

describe("canSelfUpdate", () => {
  const at = (cycle: unknown): AgentState => ({ ...initialState("h", "2026-01-01T00:00:00Z"), cycle } as AgentState);
  it("only from resting phases, never with a finishing step pending", () => {
    expect(canSelfUpdate(at({ phase: "idle" }))).toBe(true);
    expect(canSelfUpdate(at({ phase: "failed" }))).toBe(true);
    expect(canSelfUpdate(at({ phase: "done", postDeploy: "ok" }))).toBe(true);
    expect(canSelfUpdate(at({ phase: "done", postDeploy: "pending" }))).toBe(false);
    for (const phase of ["fetched", "built", "activating", "verifying", "rollingBack", "rollbackFailed"]) expect(canSelfUpdate(at({ phase }))).toBe(false);
  });
});
