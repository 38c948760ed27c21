/**
 * The dashboard's page of one host (/hosts/{host}): what it runs and should
 * run, pin and hold state, its last error, the revisions it failed (each
 * with a retry button), and the timeline of its events. The deploy log tail
 * and the operator actions are filled in by the page's script from the API
 * when this controller serves them (the page works without them). Pure.
 */
import type { AuditReport, HostStatus, StatusReport } from "../../../schemas/src/api.js";
import { DASHBOARD_SCRIPT } from "./dashboard-script.js";
import { actionButton, esc, lines, page, revLink, text, timeEl } from "./html.js";
import { heldMark, STYLE } from "./render-html.js";
import { absoluteTime, msOf } from "./time.js";

export interface HostPageOptions {
  refreshSeconds?: number;
  nonce: string;
  canOperate?: boolean;
  fragment?: boolean;
}

function facts(h: HostStatus, s: StatusReport, now: number, canOperate: boolean): string {
  const row = (k: string, v: string, id?: string) => `<dt>${k}</dt><dd${id ? ` id="${id}"` : ""}>${v}</dd>`;
  const held = heldMark(h);
  const reboot = h.pendingReboot ? "PENDING (staged for boot, unverified)" : h.needsReboot ? "NEEDED" : "no";
  return `<dl id="host-facts">
${row("Wave", text(h.wave))}${row("Kind", h.kind)}${row("Health", `<span class="${h.health}">${h.health}</span>`, "health")}${row("Phase", h.phase ?? "-", "phase")}
${row("Pin", h.pinned ? `pinned at ${revLink(h.pinned)} (fleet.yaml)` : "not pinned", "pin")}
${row("Hold", `<span id="hold-state">${held ? `held by ${text(held.actor ?? "?")}${held.time ? ` since ${esc(held.time)}` : ""}: ${text(held.reason ?? "")}` : "not held"}</span>${actionButton(canOperate, "hold", "Hold", { host: h.host })}${actionButton(canOperate, "release", "Release", { host: h.host })}`)}
${row("Desired", revLink(h.desiredRev))}${row("Current", revLink(h.currentRev))}${row("Generation", h.generation ? `<code>${text(h.generation)}</code>` : "-")}
${row("Last seen", `${timeEl(h.lastSeen, now, "never")}${h.stale ? ` <span class="STALE">STALE</span>` : ""}`)}${row("Since", timeEl(h.since, now))}
${row("Drift", h.drift ? "DRIFT: current differs from desired outside a rollout" : "no")}${row("Reboot", reboot)}${row("Branch", `${text(s.branch)} at ${revLink(s.head)}`)}
</dl>`;
}

export function renderHostPage(s: StatusReport, h: HostStatus, audit: AuditReport, o: HostPageOptions): string {
  const now = Date.parse(s.generatedAt);
  const canOperate = o.canOperate ?? false;
  const title = `Flotilla — ${h.host} ${h.health}`;
  const events = [...audit.entries].reverse(); // newest first
  const lastFailed = events.find((e) => e.outcome === "failed" && e.rev);
  const logRev = lastFailed?.rev ?? h.currentRev;
  const subjects = new Map(s.rollouts.map((r) => [r.rev, r.subject]));
  const lastError = h.lastError
    ? `<p class="error" id="last-error-reason">${text(h.lastError.reason)}</p><pre id="last-error-message">${lines(h.lastError.message)}</pre>${lastFailed ? `<p>Last failure: ${text(lastFailed.phase)} ${text(lastFailed.reason)} on ${revLink(lastFailed.rev)} at ${esc(absoluteTime(msOf(lastFailed.time)))}${lastFailed.message ? ":" : "."}</p>${lastFailed.message ? `<pre id="last-failure-message">${lines(lastFailed.message)}</pre>` : ""}` : ""}`
    : `<p id="no-error">No error reported.</p>`;
  const failed = h.failedRevs.length
    ? `<table id="failed-revs"><tr><th>Revision</th><th>Commit</th><th></th></tr>${h.failedRevs.map((r) => `<tr data-rev="${r}"><td>${revLink(r)}</td><td>${text(subjects.get(r) ?? "")}</td><td>${actionButton(canOperate, "retry", "Retry", { host: h.host, rev: r })}</td></tr>`).join("")}</table>`
    : `<p>None: the agent will deploy every revision it is given.</p>`;
  const timeline = events.length
    ? `<table id="timeline"><tr><th>When</th><th>Revision</th><th>Phase</th><th>Outcome</th><th>Reason</th><th>Message</th></tr>${events
        .map((e) => `<tr data-phase="${esc(e.phase)}" data-outcome="${esc(e.outcome)}"><td title="${esc(absoluteTime(msOf(e.time)))}">${timeEl(e.time, now)}</td><td>${revLink(e.rev)}${e.title ? ` ${text(e.title)}` : ""}</td><td>${text(e.phase)}</td><td class="${e.outcome === "failed" ? "error" : ""}">${text(e.outcome)}</td><td>${text(e.reason)}</td><td>${text((e.message ?? "").split("\n")[0]!.slice(0, 300))}</td></tr>`)
        .join("\n")}</table>`
    : `<p>No events from this host yet.</p>`;
  const live = `<main id="live" data-host="${h.host}"${logRev ? ` data-log-rev="${logRev}"` : ""} data-generated="${s.generatedAt}" data-title="${text(title)}">
<nav><a href="/">← Fleet</a></nav>
<h1>Host <code>${text(h.host)}</code> <span class="${h.health}">${h.health}</span></h1>
${facts(h, s, now, canOperate)}
<section id="last-error"><h2>Last error</h2>${lastError}</section>
<section id="failed"><h2>Failed revisions</h2>${failed}</section>
<section id="events"><h2>Events (newest first)</h2>${timeline}</section>
</main>`;
  if (o.fragment) return live;
  const after = `<section id="logs"><h2>Deploy log${logRev ? ` (${logRev.slice(0, 12)})` : ""}</h2><div id="logs-body"><p>Loaded by the page's script (needs JavaScript).</p></div></section>
<section id="actions"><h2>Operator actions</h2><div id="actions-body"><p>Loaded by the page's script (needs JavaScript).</p></div></section>`;
  return page({ title, nonce: o.nonce, refreshSeconds: o.refreshSeconds ?? 5, canOperate, style: STYLE, script: DASHBOARD_SCRIPT }, live, after);
}

/** The page for a host the fleet file does not list. */
export function renderUnknownHost(host: string, nonce: string): string {
  return page({ title: "Flotilla — unknown host", nonce, refreshSeconds: 30, canOperate: false, style: STYLE, script: DASHBOARD_SCRIPT }, `<main id="live" data-generated="${new Date().toISOString()}"><nav><a href="/">← Fleet</a></nav><p class="banner unknown" id="unknown-host">No host “${text(host)}” in the fleet file at the head.</p></main>`);
}
