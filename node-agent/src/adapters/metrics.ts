/**
 * The Prometheus text endpoint: phase, last deploy outcome, queue length and
 * poll counters, on its own registry (no global state), served by node:http.
 * Also `flotilla_agent_info{version}`, per-step durations of each deploy cycle
 * (`flotilla_agent_step_duration_seconds{step}`, read from the cycle's
 * recorded durations), and three standard process metrics computed cheaply
 * from process.memoryUsage/cpuUsage (not prom-client's default collectors,
 * which cost an event-loop monitor and several MB).
 */
import { createServer, type Server } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
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

  private readonly steps = new Histogram({
    name: "flotilla_agent_step_duration_seconds",
    help: "How long each step of a deploy cycle took (build, activate, verify, rollback, fetch, preDeploy, postDeploy)",
    labelNames: ["step"],
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });
  /** The cycle (startedAt) whose steps were observed, and which of its steps. */
  private cycleSeen: { startedAt: string; steps: Set<string> } | null = null;
  private primed = false;

  constructor(version = "unknown") {
    for (const p of AGENT_PHASES) this.phase.set({ phase: p }, 0);
    new Gauge({ name: "flotilla_agent_info", help: "1, labelled with the agent's version", labelNames: ["version"], registers: [this.registry] }).set({ version }, 1);
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      registers: [this.registry],
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    new Counter({
      name: "process_cpu_seconds_total",
      help: "Total user and system CPU time spent in seconds.",
      registers: [this.registry],
      collect() {
        const u = process.cpuUsage();
        this.reset();
        this.inc((u.user + u.system) / 1e6);
      },
    });
    new Gauge({ name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", registers: [this.registry] }).set(
      Math.round(Date.now() / 1000 - process.uptime()),
    );
  }

  /** Observes each step duration of the current cycle once (after a restart, steps already recorded are not observed again). */
  private observeSteps(state: AgentState): void {
    const first = !this.primed;
    this.primed = true;
    const c = state.cycle as { startedAt?: unknown; durations?: unknown };
    if (typeof c.startedAt !== "string" || !c.durations || typeof c.durations !== "object") return;
    const durations = c.durations as Record<string, unknown>;
    if (!this.cycleSeen || this.cycleSeen.startedAt !== c.startedAt) this.cycleSeen = { startedAt: c.startedAt, steps: new Set() };
    for (const [step, ms] of Object.entries(durations)) {
      if (step === "total" || this.cycleSeen.steps.has(step) || typeof ms !== "number" || !Number.isFinite(ms)) continue;
      this.cycleSeen.steps.add(step);
      if (!first) this.steps.observe({ step }, ms / 1000);
    }
  }

  observe(state: AgentState, queueLength: number): void {
    this.observeSteps(state);
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

