import { describe, expect, it } from "vitest";
import { renderAuditText, renderStatusText } from "./render-text.js";
import { progressKey, progressLine, renderProgress } from "./render-progress.js";
import { host, NOW, report, REV_A, rollout } from "../testing/status-fixture.js";

describe("status text", () => {
  it("uses one time style: relative with a unit, absolute to the second", () => {
    const out = renderStatusText(report());
    expect(out).toContain("(report at 2026-01-01 12:00:00Z)");
    expect(out).toMatch(/web-1 .* 12 s ago +3 min ago/);
    expect(out).toMatch(/db-1 .* 3 h ago STALE/);
    expect(out).toMatch(/web +soaking +2\/2 healthy +promotes in 20 s/);
    expect(out).toMatch(/db +pending +0\/1 healthy +opens in 20 s +waits for web/);
    expect(out).toMatch(/canary +promoted +1\/1 healthy +opened 5 min ago/);
    expect(out).not.toMatch(/\.\d{3}Z/); // no milliseconds anywhere
  });

  it("names the commit: subject and author", () => {
    expect(renderStatusText(report())).toContain(`rollout ${REV_A.slice(0, 12)}: PROGRESSING — "web: raise nginx workers" by Alice Example`);
  });

  it("fits the width, keeping host names and revisions whole", () => {
    const long = "a-very-long-host-name-0001";
    const s = report({ hosts: [host(long, { lastError: { reason: "X", message: "m".repeat(300) } })] });
    const out = renderStatusText(s, { width: 80 });
    for (const line of out.trimEnd().split("\n")) expect(line.length, line).toBeLessThanOrEqual(80);
    const row = out.split("\n").find((l) => l.startsWith(long))!;
    expect(row).toContain(`${REV_A.slice(0, 12)}  ${REV_A.slice(0, 12)}`);
    expect(row).toContain("…");
    expect(out).toMatch(/last error X: m+…/);
    // without a width (HTTP format=text) nothing is cut
    expect(renderStatusText(s)).toContain("m".repeat(300));
  });

  it("escapes control characters before fitting", () => {
    const out = renderStatusText(report({ rollouts: [rollout({ subject: "evil\x1b[2J\u202esubject" })] }), { width: 100 });
    expect(out).toContain("evil\\x1b[2J\\u202esubject");
    expect(out).not.toContain("\x1b");
  });
});

describe("audit text", () => {
  it("absolute times without milliseconds; fits the width", () => {
    const a = { generatedAt: new Date(NOW).toISOString(), entries: [{ time: "2026-01-01T11:59:58.123Z", host: "web-1", kind: "event" as const, phase: "verifying", outcome: "failed", reason: "HealthCheckFailed", rev: REV_A, pr: 12, title: "t".repeat(200), author: "A", mergedBy: null, durations: null, message: "boom" }] };
    const out = renderAuditText(a, { width: 90 });
    expect(out).toMatch(/^TIME +HOST/);
    expect(out).toMatch(/^2026-01-01 11:59:58Z +web-1 /m);
    for (const line of out.trimEnd().split("\n")) expect(line.length).toBeLessThanOrEqual(90);
  });
});

describe("--watch rendering", () => {
  it("shows the current rollout's waves, the counters and failed hosts", () => {
    const out = renderProgress(report(), { width: 100 });
    expect(out).toContain("2 healthy · 1 failed · 1 stale · 1 deploying (of 5 hosts)");
    expect(out).toMatch(/web +soaking +2\/2 healthy +promotes in 20 s/);
    expect(out).toContain("web-2: HealthCheckFailed: http://localhost/ answered 502");
  });

  it("a change is a change of state or count, not of the clock", () => {
    const a = report();
    const later = { ...a, generatedAt: new Date(NOW + 5_000).toISOString() };
    expect(progressKey(later)).toBe(progressKey(a));
    const promoted = report({ rollouts: [rollout({ waves: rollout().waves.map((w) => (w.name === "web" ? { ...w, state: "promoted" as const } : w)) })] });
    expect(progressKey(promoted)).not.toBe(progressKey(a));
    expect(progressLine(a)).toBe(`2026-01-01 12:00:00Z ${REV_A.slice(0, 12)} progressing: canary promoted 1/1, web soaking 2/2, db pending 0/1; 2 healthy, 1 failed, 1 stale, 1 deploying`);
  });
});
