/**
 * Reports to the controller: every transition event and a periodic
 * heartbeat, signed with the host key, queued on disk first (Outbox) and
 * delivered in seq order by `POST /api/v1/reports`. The controller answers
 * with the highest seq it stored; the queue is dropped up to there, so a
 * resend after a lost answer is harmless ((host, seq) is idempotent). No
 * refusal may jam the queue (handleRefusal): each one splits, re-signs,
 * re-times, truncates or sets aside, or, when the controller refuses the host
 * as a whole, waits for the next delivery.
 */
import { API_PREFIX, HOST_WIDE_REPORT_ERRORS, PERMANENT_REPORT_ERRORS } from "../../../schemas/src/api-constants.js";
import type { ApiError, Heartbeat, ReportAck, SignedEnvelope, TransitionEvent } from "../../../schemas/src/api.js";
import { accepts, check, type AgentFormat } from "../../../schemas/src/agent-check.js";
import { verifyEnvelope, type HostSigner } from "../../../common/src/signing.js";
import type { Logger } from "../../../common/src/log.js";
import type { EventDraft } from "../loop/events.js";
import type { AgentState } from "../loop/phases.js";
import type { Clock, Reporter } from "../ports.js";
import { httpCall, type HttpAnswer } from "./http-client.js";
import type { Outbox } from "./queue.js";
import { redact } from "./redact.js";
import { retimePayload, shrinkPayload } from "./report-repair.js";

const BATCH = 100;
const MAX_REFUSALS = 1000;

export interface HttpReporterOptions {
  /** With `reload` (adapters/host-key.ts), the key is read again from disk after a 401 BadSignature. */
  signer: HostSigner & { reload?(): Promise<boolean> };
  outbox: Outbox;
  clock: Clock;
  log: Logger;
  agentVersion: string;
  timeoutMs?: number;
}

export class HttpReporter implements Reporter {
  private url: string | null = null;
  private inflight: Promise<{ empty: boolean; reached: boolean }> | null = null;
  /** Batch size: halved on 413 (and to isolate an unknown refusal), doubled back after each success. */
  private batchLimit = BATCH;
  /** The refusal the queue is waiting on (logged once). */
  private stuck: string | null = null;
  /** Called with the number of reports set aside, after each one (metrics). */
  onSetAside: ((total: number) => void) | null = null;

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

  /** Reports set aside in `outbox/rejected/` (kept for an operator, never delivered). */
  setAsideCount(): number {
    return this.o.outbox.setAsideCount();
  }

  private base(seq: number) {
    return { host: this.o.signer.host, seq, time: this.o.clock.now().toISOString(), agentVersion: this.o.agentVersion };
  }

  async event(d: EventDraft, _state: AgentState): Promise<void> {
    await this.o.outbox.append("e", (seq) => {
      const payload = checkedOut<TransitionEvent>("transition-event", {
        type: "event",
        ...this.base(seq),
        phase: d.phase,
        outcome: d.outcome,
        reason: d.reason,
        rev: d.rev,
        generation: d.generation,
        ...(d.needsReboot !== undefined ? { needsReboot: d.needsReboot } : {}), ...(d.pendingReboot ? { pendingReboot: true } : {}),
        ...(d.previous ? { previous: d.previous } : {}),
        ...(d.health ? { health: d.health } : {}),
        ...(d.durations ? { durations: d.durations } : {}),
        ...(d.error ? { error: { reason: d.error.reason, message: redact(d.error.message).slice(0, 8000) } } : {}),
        ...(d.message ? { message: redact(d.message).slice(0, 8000) } : {}),
        ...(d.blamed !== undefined ? { blamed: d.blamed } : {}),
        ...(d.log ? { log: d.log } : {}),
      });
      return this.o.signer.sign(JSON.stringify(payload));
    });
    this.kick();
  }

  async heartbeat(state: AgentState): Promise<void> {
    await this.o.outbox.append("h", (seq) => {
      const c = state.cycle;
      const payload = checkedOut<Heartbeat>("heartbeat", {
        type: "heartbeat",
        ...this.base(seq),
        phase: c.phase,
        currentRev: state.current?.rev ?? null,
        currentGeneration: state.current?.generation ?? null,
        targetRev: "target" in c && c.target ? c.target.rev : (state.current?.rev ?? null),
        healthy: c.phase === "done" ? true : c.phase === "rollbackFailed" || c.phase === "firstDeployFailed" ? false : null,
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
    const done = new Set<string>(); // once-per-delivery repairs (rebase, key reload)
    // Every refusal either changes the queue (split, re-sign, re-time,
    // truncate, set aside) or ends this delivery; the bound is a backstop.
    let refusals = 0;
    while (this.o.outbox.length > 0 && refusals < MAX_REFUSALS) {
      const batch = await this.o.outbox.peek(this.batchLimit);
      if (batch.length === 0) break;
      if (await this.setAsideForeign(batch)) continue;
      const reports: SignedEnvelope[] = batch.map((b) => b.envelope);
      let res: HttpAnswer;
      try {
        res = await httpCall(`${url}${API_PREFIX}/reports`, { method: "POST", json: { reports }, timeoutMs: this.o.timeoutMs ?? 10_000 });
      } catch (e) {
        this.o.log.debug("controller unreachable; reports stay queued", { queued: this.o.outbox.length, error: (e as Error).message });
        // A server that closes the connection while a large body is still being
        // written (a proxy's size limit) looks like a reset, not a 413: send
        // smaller batches next time (they grow back after a success).
        const code = (e as { code?: string }).code;
        if ((code === "EPIPE" || code === "ECONNRESET") && batch.length > 1) this.batchLimit = Math.max(1, Math.floor(batch.length / 2));
        return { empty: false, reached };
      }
      reached = res.status < 500;
      if (!res.ok) {
        refusals++;
        if ((await this.handleRefusal(res, batch, done)) === "stop") return { empty: false, reached };
        continue;
      }
      let answer: unknown = null;
      try {
        answer = JSON.parse(res.text || "null");
      } catch {
        answer = null; // not JSON (a proxy's page): invalid below
      }
      const ack = await check<ReportAck>("report-ack", answer);
      if (!ack.success) {
        this.o.log.warn("controller sent an invalid ReportAck; reports stay queued", { body: res.text.slice(0, 300) });
        return { empty: false, reached };
      }
      const dropped = await this.o.outbox.ack(ack.data.lastSeq);
      this.o.log.debug("reports delivered", { sent: batch.length, accepted: ack.data.accepted, duplicates: ack.data.duplicates, lastSeq: ack.data.lastSeq });
      if (dropped === 0) return { empty: false, reached };
      // Grow back after a split: the refusal may have been one large report.
      this.batchLimit = Math.min(BATCH, this.batchLimit * 2);
      this.stuck = null;
    }
    const empty = this.o.outbox.length === 0;
    // An empty queue means the controller acknowledged everything we sent.
    return { empty, reached: empty || reached };
  }

  /**
   * Reports queued under another host name (the config's `host` changed) can
   * never be delivered by this agent: set them aside rather than send them.
   */
  private async setAsideForeign(batch: Array<{ seq: number; envelope: SignedEnvelope }>): Promise<boolean> {
    const foreign = batch.filter((b) => b.envelope.host !== this.o.signer.host);
    for (const b of foreign) await this.setAside(b.seq, `signed as host "${b.envelope.host}", but this agent is "${this.o.signer.host}"`);
    return foreign.length > 0;
  }

  private async setAside(seq: number, why: string): Promise<void> {
    if (await this.o.outbox.setAside(seq, why)) this.onSetAside?.(this.o.outbox.setAsideCount());
  }

  /**
   * A refused batch. Every refusal leads to a change that lets the queue move
   * (issue 9 §2): never the same bytes resent forever.
   *
   * - 409 SeqBehind: the seq counter is behind the controller's (state dir
   *   wiped or restored): renumber above it, once per delivery.
   * - 413 PayloadTooLarge: halve the batch; a single event still too large
   *   gets its long free text truncated with a marker; a report that cannot
   *   shrink further is set aside.
   * - 400 ClockSkew: reports stamped ahead of the controller's clock (the
   *   answer's Date header) are re-timed to it, keeping the old stamp in
   *   `skewedTime`.
   * - 401 BadSignature: reports signed by another key than the one in use are
   *   re-signed; otherwise the key is read again from disk (a rotation swapped
   *   it) and the queue re-signed when it changed.
   * - A refusal the controller will never lift for that report (Replay,
   *   SchemaViolation…): set it aside (kept in outbox/rejected/, logged,
   *   counted) so the rest flows.
   * - Refusals of the host as a whole (unknown host, a key the controller does
   *   not know yet, no fleet, overload) and server errors: keep everything and
   *   try again at the next delivery (the next heartbeat or event).
   * - Anything else: split the batch down to the one report refused, then set
   *   that one aside.
   */
  private async handleRefusal(res: HttpAnswer, batch: Array<{ seq: number; envelope: SignedEnvelope }>, done: Set<string>): Promise<"stop" | "retry"> {
    const { status, text } = res;
    let body: ApiError | null = null;
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    const parsed = await check<ApiError>("api-error", json);
    body = parsed.success ? parsed.data : null;
    const code = body?.error ?? (status === 413 ? "PayloadTooLarge" : null);
    const index = /^reports\[(\d+)\]/.exec(body?.path ?? "")?.[1];
    const entry = index === undefined ? undefined : batch[Number(index)];
    const first = batch[0]!;

    if (code === "SeqBehind" && body?.lastSeq !== undefined && !done.has("rebase")) {
      done.add("rebase");
      await this.o.outbox.rebase(body.lastSeq, (env, seq) => this.o.signer.sign(JSON.stringify({ ...(JSON.parse(env.payload) as object), seq })));
      return "retry";
    }
    // Behind again after renumbering in this delivery: try again next time, never set aside.
    if (code === "SeqBehind") return this.wait(status, text, code);
    if (code === "PayloadTooLarge") {
      if (batch.length > 1) {
        this.batchLimit = Math.max(1, Math.floor(batch.length / 2));
        this.o.log.info("controller refused a batch as too large; sending smaller batches", { sent: batch.length, next: this.batchLimit });
        return "retry";
      }
      const before = first.envelope.payload.length;
      const changed = await this.o.outbox.rewrite([first.seq], (env) => {
        const smaller = shrinkPayload(env.payload);
        return smaller ? this.o.signer.sign(smaller) : null;
      });
      if (changed > 0) {
        this.o.log.warn("a report is too large for the controller on its own; its long text fields were truncated (marked in the report)", { seq: first.seq, bytes: before });
        return "retry";
      }
      await this.setAside(first.seq, `PayloadTooLarge: ${body?.message ?? "refused as too large"}, even with every text field truncated`);
      return "retry";
    }
    if (code === "ClockSkew") {
      const controllerNow = res.date ? new Date(res.date) : this.o.clock.now();
      const nowIso = Number.isNaN(controllerNow.getTime()) ? this.o.clock.now().toISOString() : controllerNow.toISOString();
      const changed = await this.o.outbox.rewrite(
        batch.map((b) => b.seq),
        (env) => {
          const retimed = retimePayload(env.payload, nowIso);
          return retimed ? this.o.signer.sign(retimed) : null;
        },
      );
      if (changed > 0) {
        this.o.log.warn("the controller refused report times as ahead of its clock; re-timed to its clock (the agent's stamp is kept in skewedTime)", { reports: changed, controllerTime: nowIso });
        return "retry";
      }
      // Nothing ahead of the controller's clock by our reading (no usable Date
      // header): wait for the clocks to agree rather than set an event aside.
      return this.wait(status, text, code);
    }
    if (code === "BadSignature") {
      // Queued under an older key (the agent restarted with a new one)?
      const resigned = await this.o.outbox.rewrite(batch.map((b) => b.seq), (env) => (verifyEnvelope(env, this.o.signer.publicKeyLine) ? null : this.o.signer.sign(env.payload)));
      if (resigned > 0) {
        this.o.log.warn("re-signed queued reports signed by another host key than the one in use", { reports: resigned });
        return "retry";
      }
      if (this.o.signer.reload && !done.has("reload")) {
        done.add("reload");
        let changed = false;
        try {
          changed = await this.o.signer.reload();
        } catch (e) {
          this.o.log.error("cannot read the host key again after the controller refused its signature", { error: (e as Error).message });
        }
        if (changed) {
          const n = await this.o.outbox.rewrite(null, (env) => this.o.signer.sign(env.payload));
          this.o.log.warn("host key changed on disk; queued reports re-signed with the new key", { reports: n, key: this.o.signer.publicKeyLine });
          return "retry";
        }
      }
    }
    if (code && HOST_WIDE_REPORT_ERRORS.has(code)) return this.wait(status, text, code);
    if (status >= 500 || status === 429 || !body) return this.wait(status, text, code);
    if (entry && PERMANENT_REPORT_ERRORS.has(body.error)) {
      await this.setAside(entry.seq, `${body.error}: ${body.message}`);
      return "retry";
    }
    // A refusal this agent does not know how to repair: find the report it is
    // about (split down to one), then set that one aside.
    if (batch.length > 1) {
      this.batchLimit = entry && Number(index) > 0 ? Number(index) : Math.max(1, Math.floor(batch.length / 2));
      return "retry";
    }
    await this.setAside(first.seq, `${body.error}: ${body.message}`);
    return "retry";
  }

  /** Keeps the queue as it is; says so once per refusal code, not at every delivery. */
  private wait(status: number, text: string, code: string | null): "stop" {
    const key = `${status}:${code ?? ""}`;
    if (this.stuck !== key) this.o.log.warn("controller refused this host's reports; they stay queued and are sent again at the next delivery", { status, body: text.slice(0, 300) });
    this.stuck = key;
    return "stop";
  }
}

/**
 * The agent's own outgoing message, checked against its schema before it is
 * signed (the controller refuses anything else, for good): a mismatch is a
 * bug here, so it throws.
 */
function checkedOut<T>(format: AgentFormat, payload: T): T {
  if (!accepts(format, payload)) throw new Error(`internal error: the agent built a ${format} that does not match its schema: ${JSON.stringify(payload).slice(0, 500)}`);
  return payload;
}
