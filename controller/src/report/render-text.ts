/**
 * Plain-text and Markdown renderings of the status and audit reports (for
 * `flotilla status|audit`). Agent-supplied text is untrusted: every cell goes
 * through visible() (no raw control characters, no line breaks inside a
 * cell), and the finished document once more, line by line.
 */
import { briefBuildError } from "../follower/release.js";
import type { AuditReport, HostStatus, RolloutStatus, StatusReport } from "../../../schemas/src/api.js";
import { msOf } from "./time.js";
import { visible, visibleLines } from "./visible.js";

const short = (sha: string | null | undefined) => (sha ? sha.slice(0, 12) : "-");

function ago(iso: string | null, now: number): string {
  if (!iso) return "never";
  const s = Math.max(0, Math.round((now - msOf(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

function table(cells: string[][]): string {
  const rows = cells.map((r) => r.map(visible));
  if (rows.length === 0) return "  (no waves)"; // a rollout whose fleet file is unusable has none
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd()).join("\n");
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
    h.stale ? `${ago(h.lastSeen, now)} STALE` : ago(h.lastSeen, now),
    h.since ? ago(h.since, now) : "-",
    h.drift ? "DRIFT" : "-",
    h.failedRevs.length ? h.failedRevs.map(short).join(",") : "-",
    h.pendingReboot ? "PENDING (staged for boot)" : h.needsReboot ? "NEEDED" : "-",
  ];
}

export function rolloutTitle(r: RolloutStatus): string {
  const pr = r.pr ? ` PR #${r.pr.number} "${r.pr.title}" by ${r.pr.author ?? "?"}${r.pr.mergedBy ? `, merged by ${r.pr.mergedBy}` : ""}` : "";
  const rel = r.release
    ? `; release ${r.release.state}${r.release.state === "built" ? ` (${r.release.hosts.length} hosts)` : r.release.state === "failed" ? ` (${briefBuildError(r.release.reason ?? "")})` : r.release.state !== "missing" && r.release.reason ? ` (${r.release.reason})` : ""}`
    : "";
  const op = r.aborted ? `; ABORTED by ${r.aborted.actor}: ${r.aborted.reason}` : r.paused ? `; PAUSED by ${r.paused.actor}: ${r.paused.reason}` : "";
  return `rollout ${short(r.rev)}${pr}: ${r.state.toUpperCase()}${r.reason ? ` (${r.reason})` : ""}${op}${rel}`;
}

export function renderStatusText(s: StatusReport): string {
  const now = Date.parse(s.generatedAt);
  const out = [`branch ${s.branch} at ${short(s.head)} (report at ${s.generatedAt})`, ""];
  out.push(table([["HOST", "WAVE", "PIN", "DESIRED", "CURRENT", "GENERATION", "PHASE", "HEALTH", "LAST SEEN", "SINCE", "DRIFT", "FAILED REVS", "REBOOT"], ...s.hosts.map((h) => hostRow(h, now))]));
  const reboot = s.hosts.filter((x) => x.needsReboot || x.pendingReboot);
  if (reboot.length) out.push(`  ${reboot.length} host(s) need a reboot: ${reboot.map((x) => `${visible(x.host)}${x.pendingReboot ? " (staged for boot, unverified)" : ""}`).join(", ")}`);
  for (const h of s.hosts.filter((x) => x.held)) out.push(`  ${visible(h.host)}: HELD by ${visible(h.held!.actor)} since ${h.held!.time}: ${visible(h.held!.reason)}`);
  const closed = s.hosts.filter((x) => x.window && !x.window.open);
  if (closed.length) out.push(`  ${closed.length} host(s) outside their maintenance window: ${closed.map((x) => `${visible(x.host)} (${x.window!.nextOpen ? `opens ${x.window!.nextOpen}` : "not within 9 days"})`).join(", ")}`);
  for (const h of s.hosts.filter((x) => x.reboot && x.reboot.state !== "none")) {
    out.push(`  ${visible(h.host)}: reboot lease ${h.reboot!.state === "blocked" ? "BLOCKED (did not come back on the expected generation; blocks further reboots)" : "held (rebooting)"}, expecting ${visible(h.reboot!.expectedGeneration ?? "-")}`);
  }
  for (const h of s.hosts.filter((x) => x.lastError)) out.push(`  ${visible(h.host)}: last error ${visible(h.lastError!.reason)}: ${visible(h.lastError!.message.split("\n")[0]!)}`);
  for (const r of s.rollouts) {
    out.push("", visible(rolloutTitle(r)));
    out.push(table(r.waves.map((w) => [`  ${w.name}`, w.state, `${w.healthy}/${w.members.length} healthy${w.pinned?.length ? ` (+${w.pinned.length} pinned)` : ""}${w.window?.waiting.length ? `, ${w.window.waiting.length} outside window` : ""}`, w.reason ?? ""])));
  }
  return visibleLines(out.join("\n") + "\n");
}

const md = (s: string) => visible(s).replace(/\|/g, "\\|");

export function renderStatusMarkdown(s: StatusReport): string {
  const now = Date.parse(s.generatedAt);
  const out = [`## Fleet status: \`${s.branch}\` at \`${short(s.head)}\``, "", `_Generated ${s.generatedAt}_`, ""];
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
  return [
    // An event whose agent clock ran ahead was re-timed on re-send: show both, honestly.
    e.skewedTime ? `${e.time} (agent clock ahead: ${e.skewedTime})` : e.time,
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

export function renderAuditText(a: AuditReport): string {
  if (a.entries.length === 0) return "no audit entries\n";
  return visibleLines(table([["TIME", "HOST", "KIND", "PHASE", "OUTCOME", "REASON", "REV", "PR", "TITLE", "AUTHOR", "MERGED BY", "DURATIONS", "MESSAGE"], ...a.entries.map(auditRow)]) + "\n");
}

export function renderAuditMarkdown(a: AuditReport): string {
  const out = ["| Time | Host | Kind | Phase | Outcome | Reason | Rev | PR | Title | Author | Merged by | Durations | Message |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"];
  for (const e of a.entries) out.push(`| ${auditRow(e).map(md).join(" | ")} |`);
  return visibleLines(out.join("\n") + "\n");
}
