/**
 * Reports to the controller: every transition event and a periodic
 * heartbeat, signed with the host key, queued on disk first (Outbox) and
 * delivered in seq order by `POST /api/v1/reports`. The controller answers
 * with the highest seq it stored; the queue is dropped up to there, so a
 * resend after a lost answer is harmless ((host, seq) is idempotent).
 */
import { API_PREFIX, ApiError, Heartbeat, PERMANENT_REPORT_ERRORS, ReportAck, TransitionEvent, type SignedEnvelope } from "../../../schemas/src/api.js";
import type { HostSigner } from "../../../common/src/signing.js";
import type { Logger } from "../../../common/src/log.js";
import type { EventDraft } from "../loop/events.js";
import type { AgentState } from "../loop/phases.js";
import type { Clock, Reporter } from "../ports.js";
import { httpCall, type HttpAnswer } from "./http-client.js";
import type { Outbox } from "./queue.js";
import { redact } from "./redact.js";

const BATCH = 100;

export interface HttpReporterOptions {
  signer: HostSigner;
  outbox: Outbox;
  clock: Clock;
  log: Logger;
  agentVersion: string;
  timeoutMs?: number;
}

export class HttpReporter implements Reporter {
  private url: string | null = null;
  private inflight: Promise<{ empty: boolean; reached: boolean }> | null = null;

  constructor(private readonly o: HttpReporterOptions) {}

  setController(url: string | null): void {
    this.url = url ? url.replace(/\/+$/, "") : null;
  }

  controller(): string | null {
    return this.url;
  }

  queueLength(): number {
    return this.o.outbox.length;
  }

  private base(seq: number) {
    return { host: this.o.signer.host, seq, time: this.o.clock.now().toISOString(), agentVersion: this.o.agentVersion };
  }

  async event(d: EventDraft, _state: AgentState): Promise<void> {
    await this.o.outbox.append("e", (seq) => {
      const payload = TransitionEvent.parse({
        type: "event",
        ...this.base(seq),
        phase: d.phase,
        outcome: d.outcome,
        reason: d.reason,
        rev: d.rev,
        generation: d.generation,
        ...(d.previous ? { previous: d.previous } : {}),
        ...(d.health ? { health: d.health } : {}),
        ...(d.durations ? { durations: d.durations } : {}),
        ...(d.error ? { error: { reason: d.error.reason, message: redact(d.error.message).slice(0, 8000) } } : {}),
        ...(d.message ? { message: redact(d.message).slice(0, 8000) } : {}),
        ...(d.blamed !== undefined ? { blamed: d.blamed } : {}),
      });
      return this.o.signer.sign(JSON.stringify(payload));
    });
    this.kick();
  }

  async heartbeat(state: AgentState): Promise<void> {
    await this.o.outbox.append("h", (seq) => {
      const c = state.cycle;
      const payload = Heartbeat.parse({
        type: "heartbeat",
        ...this.base(seq),
        phase: c.phase,
        currentRev: state.current?.rev ?? null,
        currentGeneration: state.current?.generation ?? null,
        targetRev: "target" in c && c.target ? c.target.rev : (state.current?.rev ?? null),
        healthy: c.phase === "done" ? true : c.phase === "rollbackFailed" ? false : null,
        queueLength: this.o.outbox.length,
        failedRevs: state.failedRevs.map((f) => f.rev),
      });
      return this.o.signer.sign(JSON.stringify(payload));
    });
    this.kick();
  }

  /** Starts a delivery in the background unless one is running. */
  private kick(): void {
    void this.deliver().catch(() => undefined);
  }

  async flush(): Promise<boolean> {
    return (await this.deliver()).empty;
  }

  async probe(state: AgentState): Promise<boolean> {
    if (!this.url) return false;
    if (this.o.outbox.length === 0) await this.heartbeat(state);
    // Wait for any running delivery, then make one of our own.
    await this.inflight?.catch(() => undefined);
    return (await this.deliver()).reached;
  }

  private deliver(): Promise<{ empty: boolean; reached: boolean }> {
    if (this.inflight) return this.inflight;
    this.inflight = this.deliverAll().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async deliverAll(): Promise<{ empty: boolean; reached: boolean }> {
    const url = this.url;
    if (!url) return { empty: this.o.outbox.length === 0, reached: false };
    let reached = false; // set once the controller answered at all
    let rebased = false;
    while (this.o.outbox.length > 0) {
      const batch = await this.o.outbox.peek(BATCH);
      if (batch.length === 0) break;
      const reports: SignedEnvelope[] = batch.map((b) => b.envelope);
      let res: HttpAnswer;
      try {
        res = await httpCall(`${url}${API_PREFIX}/reports`, { method: "POST", json: { reports }, timeoutMs: this.o.timeoutMs ?? 10_000 });
      } catch (e) {
        this.o.log.debug("controller unreachable; reports stay queued", { queued: this.o.outbox.length, error: (e as Error).message });
        return { empty: false, reached };
      }
      reached = res.status < 500;
      const text = res.text;
      if (!res.ok) {
        const refusal = await this.handleRefusal(res.status, text, batch, rebased);
        if (refusal === "rebased") rebased = true;
        if (refusal === "stop") return { empty: false, reached };
        continue;
      }
      const ack = ReportAck.safeParse(JSON.parse(text || "null"));
      if (!ack.success) {
        this.o.log.warn("controller sent an invalid ReportAck; reports stay queued", { body: text.slice(0, 300) });
        return { empty: false, reached };
      }
      const dropped = await this.o.outbox.ack(ack.data.lastSeq);
      this.o.log.debug("reports delivered", { sent: batch.length, accepted: ack.data.accepted, duplicates: ack.data.duplicates, lastSeq: ack.data.lastSeq });
      if (dropped === 0) return { empty: false, reached };
    }
    // An empty queue means the controller acknowledged everything we sent.
    return { empty: true, reached: true };
  }

  /**
   * A refused batch. Most refusals concern the whole batch and heal once the
   * operator fixes the fleet file (unknown host, bad signature): the reports
   * stay queued. Two do not heal by waiting: a seq counter behind the
   * controller's (state dir wiped or restored: renumber above it, once per
   * delivery) and a report the controller will never accept (set it aside so
   * the rest of the queue flows).
   */
  private async handleRefusal(status: number, text: string, batch: Array<{ seq: number }>, rebased: boolean): Promise<"stop" | "rebased" | "setAside"> {
    let body: ApiError | null = null;
    try {
      const parsed = ApiError.safeParse(JSON.parse(text));
      body = parsed.success ? parsed.data : null;
    } catch {
      body = null;
    }
    if (body?.error === "SeqBehind" && body.lastSeq !== undefined && !rebased) {
      await this.o.outbox.rebase(body.lastSeq, (env, seq) => this.o.signer.sign(JSON.stringify({ ...(JSON.parse(env.payload) as object), seq })));
      return "rebased";
    }
    const index = /^reports\[(\d+)\]/.exec(body?.path ?? "")?.[1];
    const entry = index === undefined ? undefined : batch[Number(index)];
    if (body && status >= 400 && status < 500 && PERMANENT_REPORT_ERRORS.has(body.error) && entry) {
      await this.o.outbox.setAside(entry.seq, `${body.error}: ${body.message}`);
      return "setAside";
    }
    this.o.log.warn("controller refused reports; they stay queued", { status, body: text.slice(0, 300) });
    return "stop";
  }
}
