/**
 * The Prometheus text endpoint: phase, last deploy outcome, queue length and
 * poll counters, on its own registry (no global state), served by node:http.
 */
import { createServer, type Server } from "node:http";
import { Counter, Gauge, Registry } from "prom-client";
import { AGENT_PHASES } from "../../../schemas/src/conditions.js";
import type { AgentState } from "../loop/phases.js";
import type { Metrics } from "../ports.js";

export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  private readonly phase = new Gauge({ name: "flotilla_agent_phase", help: "1 for the agent's current phase", labelNames: ["phase"], registers: [this.registry] });
  private readonly outcome = new Gauge({
    name: "flotilla_agent_last_deploy_outcome",
    help: "1 for the outcome (and reason) of the last transition",
    labelNames: ["outcome", "reason"],
    registers: [this.registry],
  });
  private readonly outcomeTime = new Gauge({ name: "flotilla_agent_last_outcome_timestamp_seconds", help: "When the last transition happened", registers: [this.registry] });
  private readonly queue = new Gauge({ name: "flotilla_agent_report_queue_length", help: "Reports queued on disk, not yet acknowledged", registers: [this.registry] });
  private readonly failed = new Gauge({ name: "flotilla_agent_failed_revisions", help: "Revisions remembered as failed", registers: [this.registry] });
  private readonly healthy = new Gauge({ name: "flotilla_agent_healthy", help: "1 when the host is verified on its current generation", registers: [this.registry] });
  private readonly setAside = new Gauge({
    name: "flotilla_agent_reports_set_aside",
    help: "Reports the controller will never accept, set aside in <stateDir>/outbox/rejected/ (kept for an operator)",
    registers: [this.registry],
  });
  private readonly needsReboot = new Gauge({
    name: "flotilla_agent_needs_reboot",
    help: "1 when the deployed generation needs a reboot to fully apply (kernel, initrd or modules differ from the booted system's, or it is staged for the next boot)",
    registers: [this.registry],
  });
  private readonly polls = new Counter({ name: "flotilla_agent_polls_total", help: "Polls by result", labelNames: ["result"], registers: [this.registry] });

  constructor() {
    for (const p of AGENT_PHASES) this.phase.set({ phase: p }, 0);
  }

  observe(state: AgentState, queueLength: number): void {
    for (const p of AGENT_PHASES) this.phase.set({ phase: p }, p === state.cycle.phase ? 1 : 0);
    const last = state.lastOutcome;
    if (last) {
      this.outcome.reset();
      this.outcome.set({ outcome: last.outcome, reason: last.reason }, 1);
      this.outcomeTime.set(Date.parse(last.time) / 1000);
    }
    this.queue.set(queueLength);
    this.failed.set(state.failedRevs.length);
    this.healthy.set(state.cycle.phase === "done" || state.cycle.phase === "idle" ? (state.current ? 1 : 0) : 0);
    const c = state.cycle;
    this.needsReboot.set(c.phase === "done" && (c.needsReboot || c.pendingReboot) ? 1 : 0);
  }

  setQueueLength(n: number): void {
    this.queue.set(n);
  }

  setReportsSetAside(n: number): void {
    this.setAside.set(n);
  }

  poll(result: "unchanged" | "changed" | "error"): void {
    this.polls.inc({ result });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Serves GET /metrics on host:port. */
  listen(hostPort: string): Promise<Server> {
    const i = hostPort.lastIndexOf(":");
    const host = hostPort.slice(0, i);
    const port = Number(hostPort.slice(i + 1));
    const server = createServer((req, res) => {
      if (req.method !== "GET" || !(req.url === "/metrics" || req.url?.startsWith("/metrics?"))) {
        res.writeHead(404).end("not found\n");
        return;
      }
      this.text().then(
        (body) => res.writeHead(200, { "content-type": this.registry.contentType }).end(body),
        (e: Error) => res.writeHead(500).end(e.message),
      );
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}

