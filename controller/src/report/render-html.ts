/**
 * The dashboard's main page: summary counters, rollouts (commit subject,
 * author, PR link, per-wave progress with relative times, operator buttons),
 * then the hosts, each linking to its page: every host needing attention
 * (failed, stale, deploying, …) in full, most urgent first, then the
 * healthy ones a page at a time (`?page=`), both narrowed by a name filter
 * (`?q=`), so a 10,000-host fleet is a page of ~100 rows, not 10,000.
 * `?rev=` shows that commit's rollout first (the GitHub commit status links here). Server-rendered; the inline script
 * (dashboard-script.ts) patches #live in place. Pure.
 */
import type { HostStatus, RolloutStatus, StatusReport } from "../../../schemas/src/api.js";
import { DASHBOARD_SCRIPT } from "./dashboard-script.js";
import { actionButton, esc, extLink, hostHref, page, revLink, short, text, timeEl } from "./html.js";
import { waveTimingParts } from "./render-text.js";
import { hostList, type HostList } from "./host-list.js";
import { countHosts, currentRollout } from "./summary.js";

export const STYLE = `body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}code,pre{font-size:12px}pre{white-space:pre-wrap;max-width:100ch}
a{color:#0645ad}nav{margin-bottom:.5rem}.Healthy{color:#0a7a2f}.Degraded,.halted,.STALE,.error{color:#b00020;font-weight:600}.Progressing,.progressing,.soaking{color:#a66b00}
.promoted,.complete{color:#0a7a2f}.reboot{color:#a66b00;font-weight:600}.banner{padding:.5rem 1rem;border-radius:4px;margin:.5rem 0}.banner.halted,.flash.bad{background:#fde7ea}
.flash{padding:.5rem 1rem;border-radius:4px}.flash.ok{background:#e6f4ea}.selected{outline:2px solid #0645ad;padding:.25rem .75rem}.banner.unknown{background:#fff4e5}
#counters{list-style:none;padding:0;display:flex;gap:1.5rem}#counters b{font-size:1.4em}button.action{margin-left:.25rem}button.danger{color:#b00020}
tr.group th{background:#fafafa;font-weight:600}#pager a,#pager span{margin-right:1rem}#host-filter{margin:.5rem 0}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:600}`;

export interface DashboardOptions {
  refreshSeconds?: number;
  /** CSP nonce of this answer's <style> and <script>. */
  nonce: string;
  /** The token's role is operate: render the action buttons. */
  canOperate?: boolean;
  /** ?rev= as asked, and the commit it resolved to (null: unknown). */
  rev?: { asked: string; sha: string | null };
  /** Only the #live part (the script's updates). */
  fragment?: boolean;
  /** Host name filter (?q=): a substring, or a glob with * and ?. */
  q?: string;
  /** Page of the healthy hosts (?page=), 1-based. */
  page?: number;
  /** Healthy hosts per page (?per=; default HOSTS_PER_PAGE). */
  perPage?: number;
  /** The other query parameters to keep in the pager's and the filter's links (rev, wave, refresh). */
  params?: Record<string, string>;
}

/**
 * Operator-action marks in the status (set by the controller's operator
 * actions: a wave's `approval`, a rollout's `paused`, a host's `held`). Read
 * structurally: a controller without operator actions simply has none.
 */
type Mark = { actor?: string; reason?: string; time?: string } | null | undefined;
export const awaitingApproval = (w: RolloutStatus["waves"][number]): boolean => w.state === "pending" && (w as { approval?: { state?: string } }).approval?.state === "required";
export const pausedMark = (r: RolloutStatus): Mark => (r as { paused?: Mark }).paused;
export const heldMark = (h: HostStatus): Mark => (h as { held?: Mark }).held;
const markText = (m: NonNullable<Mark>) => `by ${m.actor ?? "?"}${m.reason ? `: ${m.reason}` : ""}`;

function counters(s: StatusReport): string {
  const c = countHosts(s.hosts, currentRollout(s)?.rev);
  const item = (key: string, cls: string, n: number) => `<li data-count="${key}" class="${cls}"><b>${n}</b> ${key}</li>`;
  return `<ul id="counters">${item("healthy", "Healthy", c.healthy)}${item("failed", "Degraded", c.failed)}${item("stale", "STALE", c.stale)}${item("deploying", "Progressing", c.deploying)}<li data-count="total"><b>${c.total}</b> hosts</li></ul>`;
}

function rolloutHeading(r: RolloutStatus): string {
  const subject = r.subject ? ` ${text(r.subject)}` : "";
  const author = r.author ? ` — by ${text(r.author)}` : "";
  const pr = r.pr ? ` · ${extLink(r.pr.url, `PR #${r.pr.number}`)} ${text(r.pr.title)}${r.pr.author ? ` by ${text(r.pr.author)}` : ""}${r.pr.mergedBy ? `, merged by ${text(r.pr.mergedBy)}` : ""}` : "";
  const rel = r.release ? ` · release ${r.release.state}${r.release.state === "built" ? ` (${r.release.hosts.length} hosts)` : r.release.reason ? ` (${text(r.release.reason)})` : ""}` : "";
  const p = pausedMark(r);
  return `${revLink(r.rev)}${subject}${author}${pr}: <span class="${r.state}">${r.state.toUpperCase()}</span>${p ? ` <span class="paused">PAUSED ${text(markText(p))}</span>` : ""}${r.reason ? ` (${text(r.reason)})` : ""}${rel}`;
}

function rolloutSection(r: RolloutStatus, now: number, canOperate: boolean, selected: boolean): string {
  const buttons =
    r.state === "progressing"
      ? (pausedMark(r) ? actionButton(canOperate, "resume", "Resume", { rev: r.rev }) : actionButton(canOperate, "pause", "Pause", { rev: r.rev })) + actionButton(canOperate, "abort", "Abort", { rev: r.rev }, true)
      : "";
  const waves = r.waves
    .map((w) => {
      const t = waveTimingParts(w, r);
      const approve = awaitingApproval(w) ? actionButton(canOperate, "approve", "Approve", { rev: r.rev, wave: w.name }) : "";
      return `<tr data-wave="${text(w.name)}"><td>${text(w.name)}</td><td class="${w.state}">${w.state}</td><td><progress value="${w.healthy}" max="${Math.max(1, w.members.length)}"></progress> ${w.healthy}/${w.members.length} healthy${w.pinned?.length ? ` (+${w.pinned.length} pinned)` : ""}</td><td>${t ? `${t.label} ${timeEl(t.iso, now)}` : "-"}</td><td>${text(w.reason ?? "")}${approve}</td></tr>`;
    })
    .join("\n");
  return `<section class="rollout${selected ? " selected" : ""}"${selected ? ` id="rev-rollout"` : ""} data-rev="${r.rev}" data-state="${r.state}"${r.release ? ` data-release="${r.release.state}"` : ""}>
<h3>${rolloutHeading(r)}${buttons}</h3>
${r.state === "halted" ? `<p class="banner halted">Rollout halted: later waves will not receive ${short(r.rev)}.</p>` : ""}
${r.waves.length ? `<table><tr><th>Wave</th><th>State</th><th>Progress</th><th>When</th><th>Reason</th></tr>\n${waves}\n</table>` : "<p>No waves.</p>"}</section>`;
}

function hostRowHtml(h: HostStatus, now: number, why = ""): string {
  const reboot = h.pendingReboot ? "PENDING (staged for boot)" : h.needsReboot ? "NEEDED" : "-";
  const gen = h.generation ? h.generation.replace(/^\/nix\/store\/[a-z0-9]{32}-/, "").slice(0, 40) : "-";
  return `<tr data-host="${h.host}" data-health="${h.health}" data-reboot="${h.pendingReboot ? "pending" : h.needsReboot ? "needed" : "no"}"${why ? ` data-attention="${why}"` : ""}><td><a href="${hostHref(h.host)}">${text(h.host)}</a></td><td>${text(h.wave)}</td><td>${h.pinned ? `pin ${revLink(h.pinned)}` : "-"}</td><td>${revLink(h.desiredRev)}</td><td>${revLink(h.currentRev)}</td><td><code>${text(gen)}</code></td><td>${h.phase ?? "-"}${heldMark(h) ? " HELD" : ""}</td><td class="${h.health}">${h.health}</td><td${h.stale ? ` class="STALE"` : ""}>${timeEl(h.lastSeen, now, "never")}${h.stale ? " STALE" : ""}</td><td>${timeEl(h.since, now)}</td><td>${h.drift ? "DRIFT" : "-"}</td><td>${h.failedRevs.length ? h.failedRevs.map((r) => revLink(r)).join(" ") : "-"}</td><td${reboot !== "-" ? ` class="reboot"` : ""}>${reboot}</td><td>${h.lastError ? `<span class="error">${text(h.lastError.reason)}</span>` : "-"}</td></tr>`;
}

function rebootNote(s: StatusReport): string {
  let n = 0;
  for (const h of s.hosts) if (h.needsReboot || h.pendingReboot) n++;
  return n ? `\n<p class="banner reboot" id="needs-reboot">${n} host(s) need a reboot to run what they have deployed.</p>` : "";
}

const HOST_HEAD = "<thead><tr><th>Host</th><th>Wave</th><th>Pin</th><th>Desired</th><th>Current</th><th>Generation</th><th>Phase</th><th>Health</th><th>Last seen</th><th>Since</th><th>Drift</th><th>Failed revisions</th><th>Reboot</th><th>Last error</th></tr></thead>";
const fmt = (n: number) => n.toLocaleString("en-US");

/** A link to the main page with `params` (the current ones, changed). */
function pageHref(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `/?${esc(s)}` : "/";
}

function filterForm(o: DashboardOptions): string {
  const keep = Object.entries(o.params ?? {}).map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join("");
  const clear = o.q ? ` <a id="filter-clear" href="${pageHref({ ...o.params })}">show all</a>` : "";
  return `<form id="host-filter" method="get" action="/">${keep}<label>Host name <input type="search" name="q" value="${esc(o.q ?? "")}" placeholder="web or web-0*"></label> <input type="submit" value="Filter">${clear}</form>`;
}

function pager(l: HostList, o: DashboardOptions): string {
  if (l.pages <= 1) return "";
  const href = (p: number) => pageHref({ ...o.params, q: o.q, page: p > 1 ? String(p) : undefined });
  const prev = l.page > 1 ? `<a id="prev-page" rel="prev" href="${href(l.page - 1)}">← previous</a>` : "";
  const next = l.page < l.pages ? `<a id="next-page" rel="next" href="${href(l.page + 1)}">next →</a>` : "";
  return `\n<nav id="pager" data-page="${l.page}" data-pages="${l.pages}">${prev}<span>page ${l.page} of ${l.pages}</span>${next}</nav>`;
}

/** Needing attention in full, then a page of the healthy hosts: one table, two bodies. */
function hostsSection(s: StatusReport, o: DashboardOptions, now: number): string {
  const l = hostList(s.hosts, { rev: currentRollout(s)?.rev ?? null, ...(o.q ? { q: o.q } : {}), ...(o.page ? { page: o.page } : {}), ...(o.perPage ? { perPage: o.perPage } : {}) });
  const urgent = l.attention.map((a) => hostRowHtml(a.host, now, a.why));
  const rows = l.healthy.map((h) => hostRowHtml(h, now));
  const filtered = o.q ? ` matching “${text(o.q)}”` : "";
  const shown = l.healthyTotal > l.healthy.length ? `, showing ${fmt(l.offset + 1)}–${fmt(l.offset + l.healthy.length)}` : "";
  return `<h2>Hosts (${fmt(s.hosts.length)})</h2>${rebootNote(s)}
${filterForm(o)}
<table id="hosts">${HOST_HEAD}
<tbody id="attention" data-count="${l.attention.length}"><tr class="group"><th colspan="14">Needing attention${filtered}: ${fmt(l.attention.length)}${l.attention.length ? " (failed, unreachable, deploying, unknown, held, awaiting a reboot or drifted; all shown)" : ""}</th></tr>
${urgent.join("\n")}</tbody>
<tbody id="healthy" data-count="${l.healthyTotal}"><tr class="group"><th colspan="14">Healthy${filtered}: ${fmt(l.healthyTotal)}${shown}</th></tr>
${rows.join("\n")}</tbody>
</table>${pager(l, o)}`;
}

export function renderDashboard(s: StatusReport, o: DashboardOptions): string {
  const now = Date.parse(s.generatedAt);
  const head = s.rollouts.find((r) => r.rev === s.head);
  const title = `Flotilla — ${s.branch} ${head ? head.state : ""}`.trimEnd();
  const canOperate = o.canOperate ?? false;
  const wanted = o.rev?.sha ? s.rollouts.find((r) => r.rev === o.rev!.sha) : undefined;
  const revNote = o.rev && !wanted ? `<p class="banner unknown" id="rev-unknown">Unknown revision “${text(o.rev.asked)}”: this controller has not seen such a commit on <b>${text(s.branch)}</b> (it knows the newest 1,000; a prefix must be unambiguous). <a href="/">Show the current rollouts</a>.</p>` : "";
  const others = s.rollouts.filter((r) => r !== wanted);
  const rollouts = [...(wanted ? [rolloutSection(wanted, now, canOperate, true)] : []), ...others.map((r) => rolloutSection(r, now, canOperate, false))].join("\n");
  const live = `<main id="live" data-generated="${s.generatedAt}" data-title="${text(title)}">
<h1>Flotilla fleet</h1>
<p>Branch <b>${text(s.branch)}</b> at ${s.head ? revLink(s.head) : "<code>unknown</code>"}${head ? ` — rollout <span class="${head.state}" id="head-state">${head.state}</span>` : ""}. Updated ${timeEl(s.generatedAt, now)}.</p>
${revNote}${counters(s)}
<h2>Rollouts</h2>
${rollouts || "<p>No commits seen yet.</p>"}
${hostsSection(s, o, now)}
</main>`;
  if (o.fragment) return live;
  return page({ title, nonce: o.nonce, refreshSeconds: o.refreshSeconds ?? 5, canOperate, style: STYLE, script: DASHBOARD_SCRIPT }, live);
}
