import { describe, expect, it } from "vitest";
import { initialState, type AgentState } from "../loop/phases.js";
import { PromMetrics } from "./metrics.js";

const T0 = "2026-01-01T00:00:00.000Z";
function inCycle(phase: string, startedAt: string, durations: Record<string, number>): AgentState {
  const s = initialState("web-1", T0);
  return { ...s, cycle: { phase, target: { rev: "a".repeat(40) }, startedAt, durations } as unknown as AgentState["cycle"] };
}

describe("agent metrics", () => {
  it("exports flotilla_agent_info{version} and the standard process metrics", async () => {
    const m = new PromMetrics("1.2.3");
    const t = await m.text();
    expect(t).toMatch(/^flotilla_agent_info\{version="1\.2\.3"\} 1$/m);
    expect(t).toMatch(/^process_resident_memory_bytes [1-9]\d*$/m);
    expect(t).toMatch(/^process_cpu_seconds_total \d+(\.\d+)?(e-\d+)?$/m);
    const start = Number(/^process_start_time_seconds (\d+)$/m.exec(t)?.[1]);
    expect(Math.abs(start - (Date.now() / 1000 - process.uptime()))).toBeLessThan(5);
  });

  it("observes each step of a cycle once, as it is recorded", async () => {
    const m = new PromMetrics("x");
    m.observe(initialState("web-1", T0), 0);
    m.observe(inCycle("fetched", T0, { fetch: 200 }), 0);
    m.observe(inCycle("built", T0, { fetch: 200, build: 12_000 }), 0);
    m.observe(inCycle("built", T0, { fetch: 200, build: 12_000 }), 0); // saved again: not observed twice
    m.observe(inCycle("verifying", T0, { fetch: 200, build: 12_000, activate: 3000 }), 0);
    m.observe(inCycle("done", T0, { fetch: 200, build: 12_000, activate: 3000, verify: 500, total: 16_000 }), 0);
    m.observe(inCycle("built", "2026-01-01T01:00:00.000Z", { fetch: 100, build: 2000 }), 0); // the next cycle
    const t = await m.text();
    expect(t).toMatch(/^flotilla_agent_step_duration_seconds_count\{step="build"\} 2$/m);
    expect(t).toMatch(/^flotilla_agent_step_duration_seconds_sum\{step="build"\} 14$/m);
    expect(t).toMatch(/^flotilla_agent_step_duration_seconds_count\{step="activate"\} 1$/m);
    expect(t).toMatch(/^flotilla_agent_step_duration_seconds_sum\{step="verify"\} 0\.5$/m);
    expect(t).toMatch(/^flotilla_agent_step_duration_seconds_count\{step="fetch"\} 2$/m);
    expect(t).not.toMatch(/step="total"/);
  });

  it("after a restart, steps the persisted cycle already recorded are not counted again", async () => {
    const m = new PromMetrics("x");
    m.observe(inCycle("verifying", T0, { fetch: 200, build: 12_000, activate: 3000 }), 0);
    m.observe(inCycle("done", T0, { fetch: 200, build: 12_000, activate: 3000, verify: 500 }), 0);
    const t = await m.text();
    expect(t).not.toMatch(/step="build"/);
    expect(t).toMatch(/^flotilla_agent_step_duration_seconds_count\{step="verify"\} 1$/m);
  });
});
