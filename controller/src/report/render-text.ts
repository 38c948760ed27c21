/**
 * Plain-text and Markdown renderings of the status and audit reports (for
 * `flotilla status|audit`). Agent-supplied text is untrusted: every cell goes
 * through visible() (no raw control characters, no line breaks inside a
 * cell), and the finished document once more, line by line.
 */
import { briefBuildError } from "../follower/release.js";
import type { AuditReport, HostStatus, RolloutStatus, StatusReport } from "../../../schemas/src/api.js";
import { clip, fitTable, type FitOptions } from "./fit.js";
import { absoluteTime, msOf, relativeIso } from "./time.js";
import { visible, visibleLines } from "./visible.js";

const short = (sha: string | null | undefined) => (sha ? sha.slice(0, 12) : "-");

/** Cells of one table, made visible, fitted to the width. */
function table(cells: string[][], o: FitOptions & { header?: boolean } = {}): string {
  const rows = cells.map((r) => r.map(visible));
  if (rows.length === 0) return "  (no waves)"; // a rollout whose fleet file is unusable has none
  return fitTable(rows, o);
}

/** How wide text output may be: undefined → unlimited (HTTP `format=text`). */
export interface TextOptions {
  width?: number;
}

export function hostRow(h: HostStatus, now: number): string[] {
  return [
    h.host,
    h.wave,
    h.pinned ? `pin ${short(h.pinned)}` : "-",
    short(h.desiredRev),
    short(h.currentRev),
    h.generation ? h.generation.replace(/^\/nix\/store\/[a-z0-9]{32}-/, "").slice(0, 40) : "-",
    h.phase ?? "-",
    h.health,
    h.stale ? `${relativeIso(h.lastSeen, now)} STALE` : relativeIso(h.lastSeen, now),
    relativeIso(h.since, now, "-"),
    h.drift ? "DRIFT" : "-",
    h.failedRevs.length ? h.failedRevs.map(short).join(",") : "-",
    h.pendingReboot ? "PENDING (staged for boot)" : h.needsReboot ? "NEEDED" : "-",
  ];
}

export function rolloutTitle(r: RolloutStatus): string {
  const commit = r.subject ? ` "${r.subject}"${r.author ? ` by ${r.author}` : ""}` : "";
  const pr = r.pr ? ` PR #${r.pr.number} "${r.pr.title}" by ${r.pr.author ?? "?"}${r.pr.mergedBy ? `, merged by ${r.pr.mergedBy}` : ""}` : "";
  const rel = r.release
    ? `; release ${r.release.state}${r.release.state === "built" ? ` (${r.release.hosts.length} hosts)` : r.release.state === "failed" ? ` (${briefBuildError(r.release.reason ?? "")})` : r.release.state !== "missing" && r.release.reason ? ` (${r.release.reason})` : ""}`
    : "";
  const op = r.aborted ? `; ABORTED by ${r.aborted.actor}: ${r.aborted.reason}` : r.paused ? `; PAUSED by ${r.paused.actor}: ${r.paused.reason}` : "";
  // The state first: a title cut to the terminal's width must keep it.
  const about = commit || pr ? ` —${commit}${pr}` : "";
  return `rollout ${short(r.rev)}: ${r.state.toUpperCase()}${r.reason ? ` (${r.reason})` : ""}${op}${rel}${about}`;
}

/** Columns that identify a host row and are never shrunk: host, desired, current. */
const HOST_KEEP = [0, 3, 4];
/** …and the ones that give up width first: generation, failed revisions, reboot. */
const HOST_FLEX = [5, 11, 12];

export function renderStatusText(s: StatusReport, o: TextOptions = {}): string {
  const now = Date.parse(s.generatedAt);
  const line = (l: string) => (o.width === undefined ? l : clip(l, o.width));
  const out = [line(`branch ${s.branch} at ${short(s.head)} (report at ${absoluteTime(now)})`), ""];
  out.push(table([["HOST", "WAVE", "PIN", "DESIRED", "CURRENT", "GENERATION", "PHASE", "HEALTH", "LAST SEEN", "SINCE", "DRIFT", "FAILED REVS", "REBOOT"], ...s.hosts.map((h) => hostRow(h, now))], { width: o.width, keep: HOST_KEEP, flex: HOST_FLEX }));
  const reboot = s.hosts.filter((x) => x.needsReboot || x.pendingReboot);
  if (reboot.length) out.push(line(`  ${reboot.length} host(s) need a reboot: ${reboot.map((x) => `${visible(x.host)}${x.pendingReboot ? " (staged for boot, unverified)" : ""}`).join(", ")}`));
  for (const h of s.hosts.filter((x) => x.held)) out.push(line(`  ${visible(h.host)}: HELD by ${visible(h.held!.actor)} since ${absoluteTime(msOf(h.held!.time))}: ${visible(h.held!.reason)}`));
  const closed = s.hosts.filter((x) => x.window && !x.window.open);
  if (closed.length) out.push(line(`  ${closed.length} host(s) outside their maintenance window: ${closed.map((x) => `${visible(x.host)} (${x.window!.nextOpen ? `opens ${absoluteTime(msOf(x.window!.nextOpen))}` : "not within 9 days"})`).join(", ")}`));
  for (const h of s.hosts.filter((x) => x.reboot && x.reboot.state !== "none")) {
    out.push(line(`  ${visible(h.host)}: reboot lease ${h.reboot!.state === "blocked" ? "BLOCKED (did not come back on the expected generation; blocks further reboots)" : "held (rebooting)"}, expecting ${visible(h.reboot!.expectedGeneration ?? "-")}`));
  }
  for (const h of s.hosts.filter((x) => x.lastError)) out.push(line(`  ${visible(h.host)}: last error ${visible(h.lastError!.reason)}: ${visible(h.lastError!.message.split("\n")[0]!)}`));
  for (const r of s.rollouts) {
    out.push("", line(visible(rolloutTitle(r))));
    out.push(table(r.waves.map((w) => [`  ${w.name}`, w.state, `${w.healthy}/${w.members.length} healthy${w.pinned?.length ? ` (+${w.pinned.length} pinned)` : ""}${w.window?.waiting.length ? `, ${w.window.waiting.length} outside window` : ""}`, waveTiming(w, r, now), w.reason ?? ""]), { width: o.width, keep: [0, 1, 2], flex: [4], header: false }));
  }
  return visibleLines(out.join("\n") + "\n");
}

/** When a wave opened, promotes or opens: a label and the instant ("opens", soakUntil of the wave before). */
export function waveTimingParts(w: RolloutStatus["waves"][number], r: RolloutStatus): { label: string; iso: string } | null {
  if (w.state === "soaking" && w.soakUntil) return { label: "promotes", iso: w.soakUntil };
  if (w.state === "pending") {
    // a pending wave opens when the wave before it is promoted, at the end of its soak
    const prev = r.waves[r.waves.indexOf(w) - 1];
    return prev?.state === "soaking" && prev.soakUntil ? { label: "opens", iso: prev.soakUntil } : null;
  }
  return w.openedAt ? { label: "opened", iso: w.openedAt } : null;
}

/** waveTiming as text, relative to now ("opened 3 min ago", "promotes in 20 s", "opens in 20 s"). */
export function waveTiming(w: RolloutStatus["waves"][number], r: RolloutStatus, now: number): string {
  const t = waveTimingParts(w, r);
  return t ? `${t.label} ${relativeIso(t.iso, now)}` : "";
}

const md = (s: string) => visible(s).replace(/\|/g, "\\|");

export function renderStatusMarkdown(s: StatusReport): string {
  const now = Date.parse(s.generatedAt);
  const out = [`## Fleet status: \`${s.branch}\` at \`${short(s.head)}\``, "", `_Generated ${absoluteTime(now)}_`, ""];
  out.push("| Host | Wave | Pin | Desired | Current | Generation | Phase | Health | Last seen | Since | Drift | Failed revisions | Reboot |");
  out.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const h of s.hosts) out.push(`| ${hostRow(h, now).map((c, i) => (i >= 3 && i <= 4 && c !== "-" ? `\`${visible(c)}\`` : md(c))).join(" | ")} |`);
  for (const r of s.rollouts) {
    out.push("", `### ${md(rolloutTitle(r))}`, "", "| Wave | State | Healthy | Reason |", "|---|---|---|---|");
    for (const w of r.waves) out.push(`| ${md(w.name)} | **${w.state}** | ${w.healthy}/${w.members.length} | ${md(w.reason ?? "")} |`);
  }
  return visibleLines(out.join("\n") + "\n");
}

function auditRow(e: AuditReport["entries"][number]): string[] {
  const d = e.durations ? Object.entries(e.durations).map(([k, v]) => `${k}=${(v / 1000).toFixed(1)}s`).join(" ") : "";
  const time = absoluteTime(msOf(e.time));
  return [
    // An event whose agent clock ran ahead was re-timed on re-send: show both, honestly.
    e.skewedTime ? `${time} (agent clock ahead: ${absoluteTime(msOf(e.skewedTime))})` : time,
    e.host ?? (e.kind === "action" ? "(operator)" : "(controller)"),
    e.kind,
    e.phase,
    e.outcome,
    e.reason,
    short(e.rev),
    e.pr !== null ? `#${e.pr}` : "-",
    e.title ?? "-",
    e.author ?? "-",
    e.mergedBy ?? "-",
    d || "-",
    (e.kind === "action" ? `${e.actor ?? "?"}${e.wave ? ` (wave ${e.wave})` : ""}: ${e.message ?? ""}` : (e.message ?? "")).split("\n")[0]!.slice(0, 120),
  ];
}

export function renderAuditText(a: AuditReport, o: TextOptions = {}): string {
  if (a.entries.length === 0) return "no audit entries\n";
  return visibleLines(table([["TIME", "HOST", "KIND", "PHASE", "OUTCOME", "REASON", "REV", "PR", "TITLE", "AUTHOR", "MERGED BY", "DURATIONS", "MESSAGE"], ...a.entries.map(auditRow)], { width: o.width, keep: [0, 1, 6], flex: [8, 9, 10, 11, 12] }) + "\n");
}

export function renderAuditMarkdown(a: AuditReport): string {
  const out = ["| Time | Host | Kind | Phase | Outcome | Reason | Rev | PR | Title | Author | Merged by | Durations | Message |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"];
  for (const e of a.entries) out.push(`| ${auditRow(e).map(md).join(" | ")} |`);
  return visibleLines(out.join("\n") + "\n");
}
