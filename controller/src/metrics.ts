/**
 * Prometheus metrics (prom-client), one registry per controller: hosts by
 * phase and health, wave states of the head rollout, ingest counters, report
 * lag (controller receive time − agent timestamp), long-poll waiters.
 * Gauges are computed at scrape time from a status snapshot.
 */
import client from "prom-client";
import type { StatusReport } from "../../schemas/src/api.js";
import { AGENT_PHASES, HEALTH_STATES, WAVE_STATES } from "../../schemas/src/conditions.js";

export class Metrics {
  readonly registry = new client.Registry();
  readonly reports: client.Counter<"result">;
  readonly rejected: client.Counter<"code">;
  readonly lag: client.Histogram;

  constructor(snapshot: () => Promise<StatusReport>, waiters: () => number, connections: () => number = () => 0) {
    const registry = this.registry;
    this.reports = new client.Counter({ name: "flotilla_reports_total", help: "Agent messages received, by result (accepted, duplicate).", labelNames: ["result"], registers: [registry] });
    this.rejected = new client.Counter({ name: "flotilla_requests_rejected_total", help: "Requests refused, by error code: every 4xx/503 answer of the API (413 PayloadTooLarge, 400 InvalidQuery, 401 BadSignature, …) and connections refused at limits.maxConnections (TooManyConnections).", labelNames: ["code"], registers: [registry] });
    this.lag = new client.Histogram({
      name: "flotilla_report_lag_seconds",
      help: "Controller receive time minus the agent's timestamp, per stored message.",
      buckets: [0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 3600],
      registers: [registry],
    });
    let cached: { at: number; report: Promise<StatusReport> } | null = null;
    const snap = () => {
      if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), report: snapshot() };
      return cached.report;
    };
    new client.Gauge({
      name: "flotilla_hosts_by_phase",
      help: "Hosts of the fleet by the agent's last reported phase (unknown: never reported).",
      labelNames: ["phase"],
      registers: [registry],
      async collect() {
        const r = await snap();
        for (const p of [...AGENT_PHASES, "unknown"]) this.set({ phase: p }, r.hosts.filter((h) => (h.phase ?? "unknown") === p).length);
      },
    });
    new client.Gauge({
      name: "flotilla_hosts_by_health",
      help: "Hosts of the fleet by health (stale hosts are Unknown).",
      labelNames: ["health"],
      registers: [registry],
      async collect() {
        const r = await snap();
        for (const h of HEALTH_STATES) this.set({ health: h }, r.hosts.filter((x) => x.health === h).length);
      },
    });
    new client.Gauge({
      name: "flotilla_hosts_needing_reboot",
      help: "Hosts whose deployed generation needs a reboot to fully apply (kernel, initrd or modules changed, or staged with operation boot).",
      registers: [registry],
      async collect() {
        this.set((await snap()).hosts.filter((h) => h.needsReboot || h.pendingReboot).length);
      },
    });
    new client.Gauge({
      name: "flotilla_hosts_stale",
      help: "Hosts not heard from within policy.unreachableAfter.",
      registers: [registry],
      async collect() {
        this.set((await snap()).hosts.filter((h) => h.stale).length);
      },
    });
    new client.Gauge({
      name: "flotilla_wave_state",
      help: "Wave states of the head rollout (1 for the current state).",
      labelNames: ["wave", "state"],
      registers: [registry],
      async collect() {
        this.reset();
        const r = await snap();
        const head = r.rollouts.find((x) => x.rev === r.head);
        for (const w of head?.waves ?? []) for (const s of WAVE_STATES) this.set({ wave: w.name, state: s }, w.state === s ? 1 : 0);
      },
    });
    new client.Gauge({
      name: "flotilla_watch_waiters",
      help: "Agents currently long-polling /api/v1/watch.",
      registers: [registry],
      collect() {
        this.set(waiters());
      },
    });
    new client.Gauge({
      name: "flotilla_open_connections",
      help: "Open HTTP connections (limits.maxConnections caps them).",
      registers: [registry],
      collect() {
        this.set(connections());
      },
    });
    client.collectDefaultMetrics({ register: registry });
  }
}
