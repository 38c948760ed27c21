// The dashboard's rendering alone, in process, for 10,000 hosts (1 in 97
// failed): the main page (counters, five rollouts, every host needing
// attention, the first page of healthy hosts), a later page, a name filter,
// and a host page (100
// events), from a StatusReport as the controller builds it. The part of the
// GET / and GET /hosts/<host> answers this branch added; controller-status.ts
// times the whole answers against a real controller.
// Run: node --import tsx bench/dashboard-render.ts
import { renderDashboard } from "../controller/src/report/render-html.js";
import { renderHostPage } from "../controller/src/report/render-host.js";
import { renderStatusText } from "../controller/src/report/render-text.js";
import { host, NOW, report, REV_A, REV_B, rollout } from "../controller/src/testing/status-fixture.js";

const N = Number(process.env.HOSTS ?? 10_000);
const RUNS = Number(process.env.RUNS ?? 20);
const hosts = Array.from({ length: N }, (_, i) =>
  host(`host-${String(i).padStart(5, "0")}`, i % 97 === 0 ? { phase: "failed", health: "Degraded", failedRevs: [REV_B], lastError: { reason: "HealthCheckFailed", message: "http:health: HTTP 503\nmore" } } : { lastSeen: new Date(NOW - (i % 300) * 1000).toISOString() }),
);
const s = report({ hosts, rollouts: [rollout(), ...Array.from({ length: 4 }, () => rollout({ rev: REV_B, state: "superseded" }))] });
const h = hosts[97]!;
const audit = {
  generatedAt: s.generatedAt,
  entries: Array.from({ length: 100 }, (_, i) => ({ time: new Date(NOW - (100 - i) * 60_000).toISOString(), host: h.host, kind: "event" as const, phase: i % 2 ? "done" : "activating", outcome: i % 2 ? "succeeded" : "started", reason: "Succeeded", rev: REV_A, pr: null, title: "web: raise nginx workers", author: "Alice", mergedBy: null, durations: null, message: null })),
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
function time(label: string, fn: () => string): void {
  fn(); // warm
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    bytes = fn().length;
    times.push(performance.now() - start);
  }
  console.log(`${label}: median ${median(times).toFixed(1)} ms, min ${Math.min(...times).toFixed(1)} ms, ${(bytes / 1024 / 1024).toFixed(2)} MiB (${RUNS} runs, ${N} hosts)`);
}
time("renderDashboard (main page)", () => renderDashboard(s, { nonce: "n", canOperate: true }));
time("renderDashboard fragment (live update)", () => renderDashboard(s, { nonce: "n", canOperate: true, fragment: true }));
time("renderDashboard ?page=50", () => renderDashboard(s, { nonce: "n", canOperate: true, page: 50 }));
time("renderDashboard ?q=host-01* (a glob)", () => renderDashboard(s, { nonce: "n", canOperate: true, q: "host-01*" }));
time("renderHostPage (100 events)", () => renderHostPage(s, h, audit, { nonce: "n", canOperate: true }));
time("renderStatusText at 100 columns", () => renderStatusText(s, { width: 100 }));
