/**
 * `flotilla status --watch`: the current rollout's progress, as a small
 * screen (redrawn on a terminal) or as one line (printed on a pipe when
 * something changed). `progressKey` is what counts as a change: states and
 * counts, never the relative times that move every second. Pure.
 */
import type { StatusReport } from "../../../schemas/src/api.js";
import { clip, fitTable } from "./fit.js";
import { rolloutTitle, waveTiming } from "./render-text.js";
import { countHosts, currentRollout, type FleetCounts } from "./summary.js";
import { absoluteTime } from "./time.js";
import { visible, visibleLines } from "./visible.js";

const counts = (c: FleetCounts) => `${c.healthy} healthy · ${c.failed} failed · ${c.stale} stale · ${c.deploying} deploying (of ${c.total} hosts)`;

/** The screen: heading, counters, one line per wave of the current rollout. */
export function renderProgress(s: StatusReport, o: { width: number }): string {
  const now = Date.parse(s.generatedAt);
  const r = currentRollout(s);
  const out = [`branch ${s.branch} at ${s.head ? s.head.slice(0, 12) : "-"} · ${absoluteTime(now)}`, counts(countHosts(s.hosts, r?.rev))].map((l) => clip(visible(l), o.width));
  if (!r) return visibleLines([...out, "no commits seen yet", ""].join("\n"));
  out.push("", clip(visible(rolloutTitle(r)), o.width));
  const rows = r.waves.map((w) => [`  ${w.name}`, w.state, `${w.healthy}/${w.members.length} healthy`, waveTiming(w, r, now), w.reason ?? ""].map(visible));
  out.push(rows.length ? fitTable(rows, { width: o.width, keep: [0, 1, 2], flex: [4], header: false }) : "  (no waves)");
  const failing = s.hosts.filter((h) => h.health === "Degraded" && h.lastError);
  for (const h of failing.slice(0, 5)) out.push(clip(visible(`  ${h.host}: ${h.lastError!.reason}: ${h.lastError!.message.split("\n")[0]}`), o.width));
  if (failing.length > 5) out.push(`  … and ${failing.length - 5} more failed hosts`);
  return visibleLines(out.join("\n") + "\n");
}

/** What must differ for a pipe to get a new line. */
export function progressKey(s: StatusReport): string {
  const r = currentRollout(s);
  const c = countHosts(s.hosts, r?.rev);
  return JSON.stringify([s.head, r?.rev, r?.state, r?.waves.map((w) => [w.name, w.state, w.healthy, w.members.length]), c]);
}

/** One line: time, rollout, state, each wave, the counters. */
export function progressLine(s: StatusReport, o: { width?: number } = {}): string {
  const r = currentRollout(s);
  const c = countHosts(s.hosts, r?.rev);
  const waves = r ? r.waves.map((w) => `${w.name} ${w.state} ${w.healthy}/${w.members.length}`).join(", ") : "no commits seen yet";
  const line = visible(`${absoluteTime(Date.parse(s.generatedAt))} ${r ? `${r.rev.slice(0, 12)} ${r.state}` : "-"}: ${waves}; ${c.healthy} healthy, ${c.failed} failed, ${c.stale} stale, ${c.deploying} deploying`);
  return o.width === undefined ? line : clip(line, o.width);
}
