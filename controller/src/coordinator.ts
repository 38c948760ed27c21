/**
 * The coordinator: what the HTTP routes call. It verifies and stores agent
 * reports, evaluates rollouts with the pure engine under the store's lock,
 * records the decisions, and acts on the ones it recorded first (wake the
 * agents of an opened wave, post the GitHub commit status). It also builds
 * the status and audit reports.
 */
import { randomBytes } from "node:crypto";
import type { AuditReport, GateAnswer, GateQuery, Nudge, OperatorAction, RebootLeaseAnswer, ReportAck, RetryDirective, StatusReport, WatchQuery } from "../../schemas/src/api.js";
import { RebootLeases } from "./reboot/leases.js";
import type { Logger } from "../../common/src/log.js";
import type { Fleet } from "../../common/src/fleet/model.js";
import { HttpError } from "./errors.js";
import type { FleetView } from "./follower/follower.js";
import { briefBuildError, withBuild, type BuildInfo } from "./follower/release.js";
import type { CommitState, GitHubPort } from "./github/port.js";
import { WatchHub } from "./http/watch-hub.js";
import { toNewMessage } from "./ingest/message.js";
import { checkReportBatch, finishReportBatch, verifyGateQuery, verifyRebootLeaseRequest, verifyWatchQuery, type VerifyContext } from "./ingest/verify.js";
import type { VerifierPool } from "./ingest/verifier-pool.js";
import { KeyRefresh } from "./ingest/key-refresh.js";
import type { NotifySources } from "./notify/sources.js";
import { verifyEnvelope } from "../../common/src/signing.js";
import { decide, gateFor, type RolloutDecision } from "./rollout/decide.js";
import { actOnHost, actOnRollout, HOST_ACTIONS, toOperatorAction, type HostActionKind, type RolloutActionKind } from "./actions/act.js";
import { describeMark, heldHosts, latestRetry } from "./rollout/operator.js";
import { hostSpec } from "./rollout/host-index.js";
import { windowHold, windowRetryAfterMs } from "../../common/src/plan/window-hold.js";
import { buildAudit } from "./report/audit.js";
import { buildStatus, type EvaluatedRollout } from "./report/status.js";
import type { HostState } from "./store/host-state.js";
import { SeqConflictError, type ActionQuery, type ActionRecord, type CommitRecord, type Store } from "./store/types.js";

export interface CoordinatorOptions {
  store: Store;
  fleet: FleetView;
  log: Logger;
  branch: string;
  now?: () => number;
  clockSkewMs?: number;
  maxReportAgeMs?: number;
  github?: GitHubPort | null;
  publicUrl?: string | null;
  controllerId?: string;
  /** How many recent commits the status report evaluates. */
  statusRollouts?: number;
  /** Worker threads for signature checks of large batches (inline when absent). */
  verifier?: VerifierPool | null;
  /** Called once for every operator action recorded (notifications are wired here); must not throw. */
  onOperatorAction?: ((action: OperatorAction) => void) | null;
  /** Notifications (notify/): handed what was stored and decided; never blocks. */
  notify?: NotifySources | null;
  /** The controller's own builder (controller.yaml `builder`): building / failed per commit. */
  builds?: { stateOf(rev: string): BuildInfo | undefined } | null;
}

export interface IngestStats {
  accepted: number;
  duplicates: number;
  rejected: Map<string, number>;
  lagMs: number[];
}

const DECISION_TTL_MS = 1_000;

/** Does this host act on a new head without waiting for its wave gate? */
function isUrgent(fleet: Fleet, host: string): boolean {
  const spec = hostSpec(fleet, host);
  return !spec || spec.waveIndex === 0 || !!spec.pin;
}
const HOSTS_TTL_MS = 500;
/** How long the per-host retry directives attached to watch answers are cached (another controller may record one). */
const RETRY_TTL_MS = 2_000;

export class Coordinator {
  readonly hub: WatchHub;
  readonly id: string;
  readonly reboots: RebootLeases;
  private readonly now: () => number;
  private readonly decisionCache = new Map<string, { at: number; epoch: number; value: EvaluatedRollout }>();
  /**
   * Bumped by every ingest that stored something: an evaluation that started
   * before it may have missed those reports, so it is neither cached nor
   * joined by later callers.
   */
  private epoch = 0;
  private hostsCache: { at: number; value: Promise<HostState[]> } | null = null;
  private parsedHosts = new Map<string, HostState>();
  private readonly postedStatus = new Map<string, string>();
  private lastNoncePruneMs = 0;
  private readonly inflight = new Map<string, { epoch: number; promise: Promise<EvaluatedRollout | null> }>();
  private readonly keyRefresh: KeyRefresh;
  private retryCache: { at: number; value: Promise<ActionRecord[]> } | null = null;
  /** Hooks for metrics. */
  onIngest: ((accepted: number, duplicates: number, lagsMs: number[]) => void) | null = null;
  onReject: ((code: string) => void) | null = null;

  constructor(private readonly opts: CoordinatorOptions) {
    this.now = opts.now ?? Date.now;
    this.id = opts.controllerId ?? `controller-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.hub = new WatchHub(() => opts.fleet.head());
    this.keyRefresh = new KeyRefresh({ fleet: opts.fleet, now: this.now });
    this.reboots = new RebootLeases({ store: opts.store, now: this.now, log: opts.log.child("reboot") });
    // Wake at once the hosts that deploy a new head without a gate (first wave) and
    // pinned hosts (a pin may have changed), judged by the fleet we know; once the
    // head's own fleet is loaded, also those it moved or added. Later waves are
    // woken when their wave opens.
    opts.fleet.onHeadFetched((head) => {
      const known = opts.fleet.currentFleet();
      this.hub.headChanged(head, known ? (h) => isUrgent(known, h) : undefined);
    });
    opts.fleet.onHeadChange((head, previous) => {
      void (async () => {
        const [now, before] = await Promise.all([opts.fleet.fleetAt(head), previous ? opts.fleet.fleetAt(previous) : Promise.resolve(null)]);
        const next = now.fleet;
        const prev = before?.fleet;
        this.hub.headChanged(head, next ? (h) => isUrgent(next, h) || (prev ? isUrgent(prev, h) || hostSpec(prev, h)?.wave !== hostSpec(next, h)?.wave : true) : undefined);
      })().catch((e) => opts.log.warn("waking agents failed", { error: (e as Error).message }));
      this.epoch++;
      this.decisionCache.clear();
      if (previous) this.evaluate(previous).catch((e) => opts.log.warn("evaluating the superseded rollout failed", { error: (e as Error).message }));
      this.evaluate(head).catch((e) => opts.log.warn("evaluating the new head failed", { error: (e as Error).message }));
    });
  }

  get store(): Store {
    return this.opts.store;
  }

  private verifyContext(): VerifyContext {
    return {
      fleet: this.opts.fleet.currentFleet(),
      now: this.now(),
      clockSkewMs: this.opts.clockSkewMs ?? 300_000,
      maxReportAgeMs: this.opts.maxReportAgeMs ?? 7 * 86_400_000,
    };
  }

  private reject(e: unknown): never {
    if (e instanceof HttpError) this.onReject?.(e.code);
    throw e;
  }

  async ingest(body: unknown): Promise<ReportAck> {
    let verified;
    try {
      const ctx = this.verifyContext();
      const { host, key, envelopes } = checkReportBatch(body, ctx);
      const verify = (k: string) => (this.opts.verifier ? this.opts.verifier.verifyAll(k, envelopes) : Promise.resolve(envelopes.map((e) => verifyEnvelope(e, k))));
      let ok = await verify(key);
      // A key the controller has not fetched yet (host-key rotation): fetch, verify again.
      const newer = ok.includes(false) ? await this.keyRefresh.newerKey(host, key) : null;
      if (newer) ok = await verify(newer);
      verified = finishReportBatch(host, envelopes, ok, newer ? this.verifyContext() : ctx);
    } catch (e) {
      this.reject(e);
    }
    const receivedMs = this.now();
    const rows = verified.messages.map((m) => toNewMessage(m.message, m.payload, m.sig, receivedMs, m.raw));
    let r;
    try {
      r = await this.opts.store.appendMessages(verified.host, rows, receivedMs);
    } catch (e) {
      // Only the host's key signs, so a valid signature at a used seq with other
      // content is the host itself with a counter behind ours (state dir wiped or
      // restored), not an attacker: tell it where to continue.
      if (e instanceof SeqConflictError) {
        this.reject(new HttpError(409, "SeqBehind", `${e.message}; continue above seq ${e.lastSeq}`, `reports[${e.index}].payload.seq`, { cause: e, lastSeq: e.lastSeq }));
      }
      throw e;
    }
    if (r.accepted > 0) {
      this.epoch++;
      this.hostsCache = null;
      // The stored ones are the last `accepted` (ascending seq; duplicates are at or below the last seq).
      this.opts.notify?.ingested(verified.host, verified.messages.slice(verified.messages.length - r.accepted).map((m) => m.message));
    }
    this.onIngest?.(r.accepted, r.duplicates, rows.map((m) => receivedMs - m.timeMs));
    return r;
  }

  async gate(body: unknown): Promise<GateAnswer> {
    let q: GateQuery;
    try {
      try {
        q = verifyGateQuery(body, this.verifyContext());
      } catch (e) {
        // As for reports: the key may be in a commit the controller has not fetched yet.
        const host = (body as { host?: unknown } | null)?.host;
        const fleet = this.opts.fleet.currentFleet();
        const known = typeof host === "string" && fleet ? hostSpec(fleet, host)?.hostKey : undefined;
        if (!(e instanceof HttpError && e.code === "BadSignature" && known && (await this.keyRefresh.newerKey(host as string, known)))) throw e;
        q = verifyGateQuery(body, this.verifyContext());
      }
    } catch (e) {
      this.reject(e);
    }
    await this.checkNonce(q);
    // Every answer carries the host's newest operator retry (the agent applies each id once).
    const retry = latestRetry(await this.opts.store.actions({ host: q.host, actions: ["retry"], limit: 1 }), q.host);
    const answer = (decision: GateAnswer["decision"], wave: string, reason: string, retryAfterMs?: number): GateAnswer => ({
      host: q.host, rev: q.rev, decision, wave, reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}), ...(retry ? { retry } : {}),
    });
    return this.gateAnswer(q, answer);
  }

  private async gateAnswer(q: GateQuery, answer: (d: GateAnswer["decision"], wave: string, reason: string, retryAfterMs?: number) => GateAnswer): Promise<GateAnswer> {
    const head = this.opts.fleet.head();
    if (!(await this.opts.fleet.isKnown(q.rev))) {
      // The agent may have seen the push first: fetch now, answer "ask again".
      void this.opts.fleet.poke("gate: unknown revision").catch(() => undefined);
      return answer("unknown-revision", "", `the controller has not seen ${q.rev.slice(0, 12)} on branch ${this.opts.branch} (head ${head?.slice(0, 12) ?? "unknown"})`, 1_000);
    }
    if (head && head !== q.rev) return this.gateOnOlder(q, head, answer);
    const ev = await this.evaluate(q.rev);
    if (!ev?.decision || !ev.fleet) return answer("halted", "", `the fleet file at ${q.rev.slice(0, 12)} is unusable: ${ev?.error ?? "unknown error"}`);
    const g = gateFor(ev.fleet, ev.decision, q.host, this.now());
    // An open wave still waits for the host's maintenance window (pins are never held).
    const held = g.decision === "open" ? windowHold(hostSpec(ev.fleet, q.host), this.now()) : null;
    if (held) return answer("wait", g.wave, `wave ${g.wave} is open; the host is ${held.reason}`, windowRetryAfterMs(held, this.now()));
    return answer(g.decision, g.wave, g.reason, g.retryAfterMs);
  }

  /** POST /api/v1/reboot-lease: a host takes or releases its reboot lease (signed and single-use like a gate question). */
  async rebootLease(body: unknown): Promise<RebootLeaseAnswer> {
    let q;
    try {
      q = verifyRebootLeaseRequest(body, this.verifyContext());
    } catch (e) {
      this.reject(e);
    }
    await this.checkNonce(q);
    return this.reboots.request(q, this.opts.fleet.currentFleet());
  }

  /**
   * The gate for a commit that is no longer the head, in the documented
   * order: pinned (H pinned at C, or at the head: a pin added later still
   * holds H on its pin), unknown-revision (H not in the fleet at C),
   * superseded — whatever C's own rollout reached, agents move to the head.
   */
  private async gateOnOlder(q: GateQuery, head: string, answer: (d: GateAnswer["decision"], wave: string, reason: string, retryAfterMs?: number) => GateAnswer): Promise<GateAnswer> {
    const atRev = await this.opts.fleet.fleetAt(q.rev);
    const current = this.opts.fleet.currentFleet();
    const hold = heldHosts(await this.opts.store.actions({ host: q.host, actions: ["hold", "release"], limit: 1 })).get(q.host);
    if (hold) return answer("held", hostSpec(current ?? atRev.fleet!, q.host)?.wave ?? "", `${describeMark("held", hold)} (flotilla host release ${q.host})`, 60_000);
    const spec = atRev.fleet ? hostSpec(atRev.fleet, q.host) : undefined;
    const headSpec = current ? hostSpec(current, q.host) : undefined;
    if (spec?.pin) return answer("pinned", spec.wave, `pinned to ${spec.pin.slice(0, 12)}`);
    if (headSpec?.pin) return answer("pinned", headSpec.wave, `pinned to ${headSpec.pin.slice(0, 12)} at the head ${head.slice(0, 12)}`);
    if (atRev.fleet && !spec) return answer("unknown-revision", "", `host "${q.host}" is not in the fleet at ${q.rev.slice(0, 12)}`, 30_000);
    return answer("superseded", spec?.wave ?? headSpec?.wave ?? "", `${q.rev.slice(0, 12)} is no longer the head of branch ${this.opts.branch}: ${head.slice(0, 12)} is; fetch it`);
  }

  /**
   * A gate question's nonce is used once: it is stored until the question's
   * time leaves the accepted window (time + clockSkew), after which the time
   * check refuses the question anyway. Stored, so a restart or another
   * controller on the same PostgreSQL database refuses the replay too.
   */
  private async checkNonce(q: Pick<GateQuery, "host" | "nonce" | "time">): Promise<void> {
    const now = this.now();
    const skew = this.opts.clockSkewMs ?? 300_000;
    const expiresMs = Math.max(Date.parse(q.time), now) + skew;
    if (!(await this.opts.store.claimNonce(q.host, q.nonce, expiresMs))) {
      this.reject(new HttpError(409, "Replay", `nonce ${q.nonce} was already used by ${q.host}; a gate question is answered once (sign a new one with a fresh nonce)`, "payload.nonce"));
    }
    if (now - this.lastNoncePruneMs > 60_000) {
      this.lastNoncePruneMs = now;
      this.opts.store.pruneNonces(now).catch((e) => this.opts.log.warn("pruning gate nonces failed", { error: (e as Error).message }));
    }
  }

  /** GET /api/v1/watch: verifies the signed WatchQuery in `authorization`, then long-polls for that host. */
  watch(authorization: string | undefined, query: { host: string; since: string | null }, timeoutMs: number, signal?: AbortSignal): Promise<Nudge> {
    let q: WatchQuery;
    try {
      q = verifyWatchQuery(authorization, query, this.verifyContext());
    } catch (e) {
      this.reject(e);
    }
    return this.hub.wait(q.host, q.since, timeoutMs, signal).then(async (n) => {
      const retry = await this.retryFor(q.host).catch(() => null);
      return retry ? { ...n, retry } : n;
    });
  }

  /** The newest retry directive for `host` (from a briefly cached list of retries). */
  private async retryFor(host: string): Promise<RetryDirective | null> {
    const now = this.now();
    if (!this.retryCache || now - this.retryCache.at > RETRY_TTL_MS) {
      const value = this.opts.store.actions({ actions: ["retry"], limit: 10_000 });
      this.retryCache = { at: now, value };
      value.catch(() => (this.retryCache = null));
    }
    return latestRetry(await this.retryCache.value, host);
  }

  /**
   * Records an operator action (actions/act.ts checks it), then makes it take
   * effect now: cached evaluations are dropped, the rollout is evaluated
   * again (an abort records the halt), and the agents concerned are woken to
   * ask their gate (their watch answers carry a retry directive).
   */
  async act(kind: RolloutActionKind | HostActionKind, target: string, body: unknown, actor: string): Promise<OperatorAction> {
    const deps = { store: this.opts.store, fleet: this.opts.fleet, now: this.now };
    let r;
    try {
      r = (HOST_ACTIONS as readonly string[]).includes(kind)
        ? await actOnHost(deps, kind as HostActionKind, target, body, actor, async (h) => (await this.opts.store.hostState(h))?.failedRevs ?? [])
        : await actOnRollout(deps, kind as RolloutActionKind, target, body, actor);
    } catch (e) {
      this.reject(e);
    }
    const action = toOperatorAction(r.action);
    this.opts.log.info("operator action", { action: action.action, rev: action.rev?.slice(0, 12) ?? null, wave: action.wave, host: action.host, actor, reason: action.reason });
    this.epoch++;
    this.decisionCache.clear();
    this.retryCache = null;
    if (action.rev && !action.host) await this.evaluate(action.rev, { fresh: true }).catch((e) => this.opts.log.warn("evaluating after an operator action failed", { error: (e as Error).message }));
    this.hub.gateChanged(r.wake);
    try {
      this.opts.onOperatorAction?.(action);
    } catch (e) {
      this.opts.log.warn("onOperatorAction hook failed", { error: (e as Error).message });
    }
    return action;
  }

  async actions(q: ActionQuery): Promise<OperatorAction[]> {
    return (await this.opts.store.actions(q)).map(toOperatorAction);
  }

  /** Host states, shared by concurrent callers and cached briefly (they are re-read after every ingest). */
  private hostStates(): Promise<HostState[]> {
    const now = this.now();
    if (this.hostsCache && now - this.hostsCache.at < HOSTS_TTL_MS) return this.hostsCache.value;
    const value = this.loadHostStates();
    const entry = { at: now, value };
    this.hostsCache = entry;
    value.catch(() => {
      if (this.hostsCache === entry) this.hostsCache = null;
    });
    return value;
  }

  /**
   * Reads the per-host versions (seq, last seen) and re-parses only the state
   * rows that changed since the last read: with 10,000 hosts, parsing every
   * row is most of a status report's cost. Correct with several controllers
   * writing, since the versions come from the database.
   */
  private async loadHostStates(): Promise<HostState[]> {
    const versions = await this.opts.store.hostVersions();
    const changed: string[] = [];
    for (const [host, v] of versions) {
      const p = this.parsedHosts.get(host);
      if (!p || p.lastSeq !== v.lastSeq || p.lastSeenMs !== v.lastSeenMs) changed.push(host);
    }
    if (changed.length > versions.size / 4) {
      this.parsedHosts = new Map((await this.opts.store.hostStates()).map((h) => [h.host, h]));
    } else if (changed.length > 0) {
      for (const h of await this.opts.store.hostStatesOf(changed)) this.parsedHosts.set(h.host, h);
    }
    const out: HostState[] = [];
    for (const host of versions.keys()) {
      const h = this.parsedHosts.get(host);
      if (h) out.push(h);
    }
    return out;
  }

  /**
   * The controller's builder moved a build of `rev` on (started, progressed,
   * built, failed, cancelled): evaluations cached with the old build state
   * are dropped, so status and gates say what the builder says now.
   */
  buildChanged(rev: string): void {
    this.epoch++;
    this.decisionCache.delete(rev);
  }

  /** Evaluates the rollout of `rev`, records new decisions and acts on those this controller recorded. */
  async evaluate(rev: string, opts: { fresh?: boolean } = {}): Promise<EvaluatedRollout | null> {
    const epoch = this.epoch;
    const cached = this.decisionCache.get(rev);
    if (!opts.fresh && cached && cached.epoch === epoch && this.now() - cached.at < DECISION_TTL_MS) return cached.value;
    const pending = this.inflight.get(rev);
    if (pending && pending.epoch === epoch) return pending.promise;
    const promise = this.evaluateNow(rev, epoch).finally(() => {
      if (this.inflight.get(rev)?.promise === promise) this.inflight.delete(rev);
    });
    this.inflight.set(rev, { epoch, promise });
    return promise;
  }

  /** Resolves when no evaluation is in flight (before the store closes: one still running would write to a closed database). */
  async settle(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight.values()].map((x) => x.promise));
  }

  private cache(rev: string, epoch: number, value: EvaluatedRollout): void {
    if (epoch === this.epoch) this.decisionCache.set(rev, { at: this.now(), epoch, value });
  }

  private async evaluateNow(rev: string, epoch: number): Promise<EvaluatedRollout | null> {
    const commit = await this.opts.store.commit(rev);
    if (!commit) return null;
    const f = await this.opts.fleet.fleetAt(rev);
    if (!f.fleet) {
      const value: EvaluatedRollout = { commit, fleet: null, decision: null, error: f.error ?? commit.fleetError ?? "fleet file unusable" };
      this.cache(rev, epoch, value);
      return value;
    }
    const fleet = f.fleet;
    const value = await this.opts.store.withLock(`rollout:${rev}`, async () => {
      const now = this.now();
      const head = this.opts.fleet.head();
      const [events, decisions, versions, revActions, holdActions] = await Promise.all([
        this.opts.store.eventsForRev(rev),
        this.opts.store.decisions(rev),
        this.opts.store.hostVersions(),
        this.opts.store.actions({ rev, actions: ["pause", "resume", "abort", "approve"] }),
        this.opts.store.actions({ actions: ["hold", "release"] }),
      ]);
      const lastSeenMs: Record<string, number> = {};
      for (const [host, v] of versions) lastSeenMs[host] = v.lastSeenMs;
      const view = this.opts.fleet.releaseAt ? await this.opts.fleet.releaseAt(rev) : undefined;
      const build = this.opts.builds?.stateOf(rev);
      const release = view ? withBuild(view, build, now) : undefined;
      const decision = decide({ fleet, rev, observedAtMs: commit.observedMs, supersededBy: head && head !== rev ? head : null, events, lastSeenMs, decisions, now, actions: [...revActions, ...holdActions], ...(release ? { release } : {}) });
      if (decision.transitions.length > 0) {
        const inserted = await this.opts.store.recordDecisions(decision.transitions.map((t) => ({ ...t, recordedMs: now, controller: this.id })));
        for (const d of inserted) {
          this.opts.log.info("decision", { rev: rev.slice(0, 12), wave: d.wave || "(rollout)", state: d.state, reason: d.reason });
          if (d.state === "progressing" && d.wave) {
            const w = decision.waves.find((x) => x.name === d.wave);
            if (w && w.index > 0) this.hub.gateChanged(new Set(w.members));
          }
        }
        if (inserted.length > 0) this.opts.notify?.rolloutDecided(commit, inserted, decision);
        if (inserted.length > 0) await this.postStatus(commit, decision, true);
      }
      return { commit, fleet, decision } satisfies EvaluatedRollout;
    });
    await this.postStatus(commit, value.decision!, false);
    this.cache(rev, epoch, value);
    return value;
  }

  private async postStatus(commit: CommitRecord, d: RolloutDecision, force: boolean): Promise<void> {
    const gh = this.opts.github;
    if (!gh) return;
    const rel = d.release;
    // A failed release build holding a wave stops the rollout until a newer commit: say so as a failure.
    const buildFailed = rel?.state === "failed" && d.state === "progressing" && d.waves.some((w) => w.releaseHold);
    const state: CommitState = d.state === "complete" ? "success" : d.state === "halted" || buildFailed ? "failure" : d.state === "superseded" ? "error" : "pending";
    const building = rel?.state === "building" ? "release building; " : rel?.state === "failed" ? `release build failed: ${briefBuildError(rel.reason ?? "")}; ` : "";
    const text = d.state === "superseded" ? `superseded before completing: ${d.summary}` : `${building}${d.summary}`;
    const description = text.length > 140 ? text.slice(0, 139) + "…" : text;
    const key = `${state}\u0000${description}`;
    if (!force && this.postedStatus.get(commit.sha) === key) return;
    this.postedStatus.set(commit.sha, key);
    const url = this.opts.publicUrl ? `${this.opts.publicUrl.replace(/\/+$/, "")}/?rev=${commit.sha}` : null;
    try {
      await gh.setStatus(commit.sha, state, description, url);
    } catch (e) {
      this.postedStatus.delete(commit.sha);
      this.opts.log.warn("posting the GitHub commit status failed", { rev: commit.sha.slice(0, 12), error: (e as Error).message });
    }
  }

  /** Periodic work: keep the head's rollout moving (soak expiry) and its status current. */
  async tick(): Promise<void> {
    const head = this.opts.fleet.head();
    if (head) await this.evaluate(head, { fresh: true });
    if (this.opts.notify) this.opts.notify.hostsChecked(await this.hostStates(), this.opts.fleet.currentFleet(), this.now());
  }

  async recentRollouts(limit: number): Promise<EvaluatedRollout[]> {
    const commits = await this.opts.store.commits(limit);
    const out: EvaluatedRollout[] = [];
    for (const c of commits) {
      const ev = await this.evaluate(c.sha);
      if (ev) out.push(ev);
    }
    return out;
  }

  async status(filter: { host?: string; wave?: string; rev?: string } = {}): Promise<StatusReport> {
    // one host's report (its dashboard page) reads that host's state, not every host's
    const states = filter.host ? this.opts.store.hostState(filter.host).then((h) => (h ? [h] : [])) : this.hostStates();
    const [rollouts, hosts, reboots] = await Promise.all([this.recentRollouts(this.opts.statusRollouts ?? 5), states, this.reboots.statuses(this.opts.fleet.currentFleet())]);
    const held = heldHosts(await this.opts.store.actions({ actions: ["hold", "release"] }));
    // an older commit asked for by name (the dashboard's ?rev=, a GitHub status link) is evaluated and listed last
    if (filter.rev && !rollouts.some((r) => r.commit.sha === filter.rev)) {
      const ev = await this.evaluate(filter.rev);
      if (ev) rollouts.push(ev);
    }
    const { rev: _rev, ...hostFilter } = filter;
    return buildStatus({ now: this.now(), branch: this.opts.branch, head: this.opts.fleet.head(), fleet: this.opts.fleet.currentFleet(), hosts, rollouts, filter: hostFilter, held, reboots });
  }

  /** The full id of a recorded commit named by its id or an unambiguous prefix (≥ 4 hex digits) among the newest 1,000; null if none or ambiguous. */
  async resolveRev(rev: string): Promise<string | null> {
    if (!/^[0-9a-f]{4,40}$/.test(rev)) return null;
    if (rev.length === 40) return (await this.opts.store.commit(rev))?.sha ?? null;
    const matches = (await this.opts.store.commits(1000)).filter((c) => c.sha.startsWith(rev));
    return matches.length === 1 ? matches[0]!.sha : null;
  }

  async audit(q: { sinceMs?: number; host?: string; limit?: number }): Promise<AuditReport> {
    const [events, decisions, commits, actions] = await Promise.all([
      this.opts.store.auditEvents(q),
      this.opts.store.auditDecisions(q),
      this.opts.store.commits(1000),
      this.opts.store.actions({ ...(q.sinceMs !== undefined ? { sinceMs: q.sinceMs } : {}), ...(q.host ? { host: q.host } : {}), limit: q.limit ?? 10_000 }),
    ]);
    return buildAudit({ now: this.now(), events, decisions, actions, commits: new Map(commits.map((c) => [c.sha, c])), ...(q.host ? { host: q.host } : {}), ...(q.limit ? { limit: q.limit } : {}) });
  }
}
