/**
 * The web dashboard: one server-rendered HTML page (no front-end build, no
 * script), refreshing itself with <meta http-equiv="refresh">.
 */
import type { StatusReport } from "../../../schemas/src/api.js";
import { hostRow, rolloutTitle } from "./render-text.js";

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const STYLE = `body{font:14px system-ui,sans-serif;margin:1.5rem;color:#222}table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}th{background:#f4f4f4}code{font-size:12px}
.Healthy{color:#0a7a2f}.Degraded,.halted,.STALE{color:#b00020;font-weight:600}.Progressing,.progressing,.soaking{color:#a66b00}
.promoted,.complete{color:#0a7a2f}.reboot{color:#a66b00;font-weight:600}.banner{padding:.5rem 1rem;border-radius:4px;margin:.5rem 0}.banner.halted{background:#fde7ea}`;

function rebootNote(s: StatusReport): string {
  const n = s.hosts.filter((h) => h.needsReboot || h.pendingReboot).length;
  return n ? `\n<p class="banner reboot" id="needs-reboot">${n} host(s) need a reboot to run what they have deployed.</p>` : "";
}

export function renderDashboard(s: StatusReport, opts: { refreshSeconds?: number } = {}): string {
  const now = Date.parse(s.generatedAt);
  const head = s.rollouts.find((r) => r.rev === s.head);
  const hostRows = s.hosts
    .map((h) => {
      const c = hostRow(h, now);
      return `<tr data-host="${esc(h.host)}" data-health="${h.health}" data-reboot="${h.pendingReboot ? "pending" : h.needsReboot ? "needed" : "no"}">${c
        .map((v, i) => `<td${i === 7 ? ` class="${h.health}"` : i === 8 && h.stale ? ` class="STALE"` : i === 12 && v !== "-" ? ` class="reboot"` : ""}>${i >= 3 && i <= 5 ? `<code>${esc(v)}</code>` : esc(v)}</td>`)
        .join("")}</tr>`;
    })
    .join("\n");
  const rollouts = s.rollouts
    .map(
      (r) => `<section class="rollout" data-rev="${r.rev}" data-state="${r.state}"${r.release ? ` data-release="${r.release.state}"` : ""}>
<h3>${esc(rolloutTitle(r))}</h3>
${r.state === "halted" ? `<p class="banner halted">Rollout halted: later waves will not receive ${r.rev.slice(0, 12)}.</p>` : ""}
<table><tr><th>Wave</th><th>State</th><th>Healthy</th><th>Opened</th><th>Soak until</th><th>Reason</th></tr>
${r.waves.map((w) => `<tr data-wave="${esc(w.name)}"><td>${esc(w.name)}</td><td class="${w.state}">${w.state}</td><td>${w.healthy}/${w.members.length}</td><td>${w.openedAt ?? "-"}</td><td>${w.soakUntil ?? "-"}</td><td>${esc(w.reason ?? "")}</td></tr>`).join("\n")}
</table></section>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${opts.refreshSeconds ?? 5}">
<title>Flotilla — ${esc(s.branch)} ${head ? head.state : ""}</title><style>${STYLE}</style></head>
<body><h1>Flotilla fleet</h1>
<p>Branch <b>${esc(s.branch)}</b> at <code>${s.head ? s.head.slice(0, 12) : "unknown"}</code>${head ? ` — rollout <span class="${head.state}" id="head-state">${head.state}</span>` : ""}. Generated ${esc(s.generatedAt)}.</p>
<h2>Hosts (${s.hosts.length})</h2>${rebootNote(s)}
<table id="hosts"><tr><th>Host</th><th>Wave</th><th>Pin</th><th>Desired</th><th>Current</th><th>Generation</th><th>Phase</th><th>Health</th><th>Last seen</th><th>Since</th><th>Drift</th><th>Failed revisions</th><th>Reboot</th></tr>
${hostRows}
</table>
<h2>Rollouts</h2>
${rollouts || "<p>No commits seen yet.</p>"}
</body></html>
`;
}
