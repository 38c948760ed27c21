/**
 * The fleet repo follower: the controller's own GitMirror of the branch,
 * polled every pollInterval and poked by the webhook. For every new commit it
 * records the commit (author, subject, whether its fleet file is valid) and
 * keeps the normalised fleet at each revision, so rollouts use the fleet file
 * at their own commit and reports are verified with the keys at the head.
 */
import { GitMirror } from "../../../common/src/git/mirror.js";
import { formatIssue, hasErrors, loadFleetAtRev } from "../../../common/src/fleet/load.js";
import type { Fleet } from "../../../common/src/fleet/model.js";
import type { Logger } from "../../../common/src/log.js";
import type { Store } from "../store/types.js";
import { timerDelay } from "../../../schemas/src/duration.js";
import { gitRunner } from "../../../common/src/git/run.js";
import { readRelease, releaseRef } from "../../../common/src/release/refs.js";
import { RELEASE_REF_PREFIX } from "../../../schemas/src/release.js";
import { releaseView, substituteOnlyHosts, type ReleaseView } from "./release.js";

export interface FleetAtRev {
  fleet?: Fleet;
  error?: string;
}

/** What the rest of the controller needs to know about the fleet repo. */
export interface FleetView {
  head(): string | null;
  /** The newest valid fleet (at the head, or before it if the head's file is broken). */
  currentFleet(): Fleet | null;
  fleetAt(rev: string): Promise<FleetAtRev>;
  isKnown(rev: string): Promise<boolean>;
  /** The release state of `rev` (refs/flotilla/releases/<rev>, verified); absent in followers without release support. */
  releaseAt?(rev: string): Promise<ReleaseView>;
  /** Fetch now (webhook); resolves when done. */
  poke(reason: string): Promise<void>;
  onHeadChange(fn: (head: string, previous: string | null) => void): void;
  /** Called as soon as a new head is fetched, before its fleet file is loaded and recorded (nudges). */
  onHeadFetched(fn: (head: string) => void): void;
}

export interface FollowerOptions {
  mirrorDir: string;
  remotes: string[];
  branch: string;
  pollIntervalMs: number;
  store: Store;
  log: Logger;
  now?: () => number;
  /** Called for each newly recorded commit (PR lookup). */
  onCommit?: (sha: string) => void;
  /** Cheap "did the branch move?" check before ls-remote (GitHub ETag). */
  headHint?: () => Promise<string | null>;
}

const MAX_NEW_COMMITS = 50;

export class Follower implements FleetView {
  private readonly mirror: GitMirror;
  private headSha: string | null = null;
  private valid: Fleet | null = null;
  private readonly cache = new Map<string, FleetAtRev>();
  private readonly releases = new Map<string, { key: string; view: ReleaseView }>();
  /** The head's rollout has substitute-only hosts and no built release: fetch release refs even when the branch did not move. */
  private awaitingRelease = false;
  private readonly listeners: ((head: string, previous: string | null) => void)[] = [];
  private readonly fetchedListeners: ((head: string) => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private readonly now: () => number;
  lastError: string | null = null;
  lastPollMs = 0;

  constructor(private readonly opts: FollowerOptions) {
    this.mirror = new GitMirror({ dir: opts.mirrorDir, remotes: opts.remotes, branch: opts.branch, log: opts.log.child("git"), timeoutMs: 120_000 });
    this.now = opts.now ?? Date.now;
  }

  head(): string | null {
    return this.headSha;
  }

  currentFleet(): Fleet | null {
    return this.valid;
  }

  onHeadChange(fn: (head: string, previous: string | null) => void): void {
    this.listeners.push(fn);
  }

  onHeadFetched(fn: (head: string) => void): void {
    this.fetchedListeners.push(fn);
  }

  async fleetAt(rev: string): Promise<FleetAtRev> {
    const hit = this.cache.get(rev);
    if (hit) return hit;
    if (!(await this.mirror.hasCommit(rev))) return { error: `revision ${rev} is not in the controller's mirror` };
    const r = await loadFleetAtRev(this.mirror, rev, undefined, { branch: this.mirror.branch });
    const out: FleetAtRev = r.fleet && !hasErrors(r.issues) ? { fleet: r.fleet } : { error: r.issues.filter((i) => i.severity === "error").map(formatIssue).join("; ") };
    if (this.cache.size > 200) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(rev, out);
    return out;
  }

  /**
   * Fetches every release ref (refs/flotilla/releases/*) from `remote`,
   * pruning deleted ones. A failure is logged, not thrown: releases are then
   * as the last fetch left them.
   */
  private async fetchReleases(remote: string): Promise<void> {
    const run = gitRunner({ log: this.opts.log.child("git"), defaultTimeoutMs: 120_000 });
    const spec = `+${RELEASE_REF_PREFIX}*:${RELEASE_REF_PREFIX}*`;
    const r = await run(["--git-dir", this.mirror.dir, "fetch", "--quiet", "--no-tags", "--prune", "--no-write-fetch-head", remote, spec], { allowFail: true });
    if (r.exitCode !== 0) this.opts.log.warn("fetching release refs failed", { error: r.stderr.trim().split("\n").pop() ?? `exit ${r.exitCode}` });
  }

  async releaseAt(rev: string): Promise<ReleaseView> {
    const log = this.opts.log.child("git");
    const run = gitRunner({ log, defaultTimeoutMs: 60_000 });
    const tip = await run(["--git-dir", this.mirror.dir, "log", "-1", "--format=%H %ct", releaseRef(rev), "--"], { allowFail: true });
    const [oid, ct] = tip.exitCode === 0 ? tip.stdout.trim().split(" ") : [];
    const key = `${rev}\u0000${oid ?? "none"}`;
    const hit = this.releases.get(rev);
    if (hit && hit.key === key) return hit.view;
    const f = await this.fleetAt(rev);
    if (!f.fleet) return { state: "invalid", hosts: [], reason: `the fleet file at ${rev.slice(0, 12)} is unusable` };
    const info = await this.mirror.commitInfo(rev);
    const parent = info.parents[0];
    const trusted = parent && (await this.mirror.hasCommit(parent)) ? ((await this.fleetAt(parent)).fleet ?? null) : null;
    const text = oid ? await readRelease({ gitDir: this.mirror.dir, rev, log }) : null;
    const view = releaseView(text, { rev, fleet: f.fleet, trusted, ...(ct ? { atMs: Number(ct) * 1000 } : {}) });
    if (rev === this.headSha) this.awaitingRelease = view.state !== "built" && substituteOnlyHosts(f.fleet).length > 0;
    this.releases.set(rev, { key, view });
    if (this.releases.size > 200) this.releases.delete(this.releases.keys().next().value!);
    return view;
  }

  async isKnown(rev: string): Promise<boolean> {
    return (await this.opts.store.commit(rev)) !== null;
  }

  /** Restores the last head from the store, polls once, then polls on a timer. */
  async start(): Promise<void> {
    await this.mirror.init();
    const saved = await this.opts.store.getMeta("head");
    if (saved && (await this.mirror.hasCommit(saved))) {
      this.headSha = saved;
      this.valid = await this.lastValidFleet(saved);
      await this.recordPins(saved).catch((e) => this.opts.log.warn("recording pinned revisions failed", { error: (e as Error).message }));
    }
    await this.poke("startup").catch((e) => this.opts.log.warn("initial fetch failed", { error: (e as Error).message }));
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.poke("poll").catch(() => undefined).finally(() => this.schedule());
    }, timerDelay(this.opts.pollIntervalMs));
    this.timer.unref();
  }

  /** Runs one fetch now; concurrent pokes coalesce into one extra run. */
  poke(reason: string): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pollOnce(reason);
        } while (this.again);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async pollOnce(reason: string): Promise<void> {
    this.lastPollMs = this.now();
    try {
      if (reason === "poll" && this.opts.headHint && this.headSha) {
        const hint = await this.opts.headHint().catch(() => null);
        if (hint === this.headSha) {
          // The branch did not move, but a held wave may be waiting for its release.
          if (this.awaitingRelease && this.opts.remotes[0]) await this.fetchReleases(this.opts.remotes[0]);
          return;
        }
      }
      const { remote, sha } = await this.mirror.remoteHead();
      this.lastError = null;
      await this.fetchReleases(remote);
      if (sha === this.headSha) return;
      await this.mirror.fetch(remote, sha);
      // Agents fetch and evaluate the commit themselves: wake them before we parse the fleet file.
      for (const fn of this.fetchedListeners) fn(sha);
      await this.advance(sha, reason);
    } catch (e) {
      this.lastError = (e as Error).message;
      this.opts.log.warn("fleet fetch failed", { reason, error: this.lastError });
      throw e;
    }
  }

  /**
   * The commits to record for a move to `sha`, oldest first: the first-parent
   * chain since the previous head, or — on a fresh controller or after a
   * force-push — the chain back to the newest commit already recorded; at
   * most MAX_NEW_COMMITS either way.
   */
  private async newCommits(previous: string | null, sha: string): Promise<string[]> {
    if (previous && (await this.mirror.isAncestor(previous, sha))) return (await this.mirror.commitsBetween(previous, sha)).slice(-MAX_NEW_COMMITS);
    const chain = await this.mirror.commitsBetween(null, sha, MAX_NEW_COMMITS);
    let from = 0;
    for (let i = chain.length - 1; i >= 0; i--) {
      if (await this.opts.store.commit(chain[i]!)) {
        from = i + 1;
        break;
      }
    }
    return chain.slice(from);
  }

  /**
   * Pinned revisions of the fleet at the head that lie on the branch's history
   * but were never recorded (older than the recorded window): a pinned host's
   * events name them, and its gate questions too.
   */
  private async unrecordedPins(fleet: Fleet | undefined, sha: string, skip: ReadonlySet<string>): Promise<string[]> {
    const pins = [...new Set((fleet?.hosts ?? []).map((h) => h.pin).filter((p): p is string => !!p && !skip.has(p)))];
    const out: string[] = [];
    for (const pin of pins) {
      if (await this.opts.store.commit(pin)) continue;
      if ((await this.mirror.hasCommit(pin)) && (await this.mirror.isAncestor(pin, sha))) out.push(pin);
    }
    return out;
  }

  private async record(rev: string): Promise<void> {
    const info = await this.mirror.commitInfo(rev);
    const f = await this.fleetAt(rev);
    await this.opts.store.recordCommit({
      sha: rev, observedMs: this.now(), author: info.author, authorEmail: info.authorEmail, committer: info.committer,
      timeMs: Date.parse(info.time), subject: info.subject, parents: info.parents, fleetError: f.error ?? null, pr: null,
    });
    this.opts.onCommit?.(rev);
  }

  private async recordPins(sha: string, skip: ReadonlySet<string> = new Set()): Promise<void> {
    const pins = await this.unrecordedPins((await this.fleetAt(sha)).fleet, sha, skip);
    // Oldest first, so recorded positions follow the history.
    const dated = await Promise.all(pins.map(async (p) => ({ p, t: Date.parse((await this.mirror.commitInfo(p)).time) })));
    for (const { p } of dated.sort((a, b) => a.t - b.t)) await this.record(p);
  }

  private async advance(sha: string, reason: string): Promise<void> {
    const previous = this.headSha;
    const fresh = await this.newCommits(previous, sha);
    await this.recordPins(sha, new Set(fresh));
    for (const rev of fresh) await this.record(rev);
    const f = await this.fleetAt(sha);
    if (f.fleet) this.valid = f.fleet;
    else this.opts.log.warn("fleet file invalid at head; keeping the last valid fleet for host keys", { head: sha, error: f.error });
    if (!this.valid) this.valid = await this.lastValidFleet(sha);
    this.headSha = sha;
    await this.opts.store.setMeta("head", sha);
    this.opts.log.info("branch moved", { from: previous?.slice(0, 12) ?? "none", to: sha.slice(0, 12), reason, commits: fresh.length });
    for (const fn of this.listeners) fn(sha, previous);
  }

  private async lastValidFleet(head: string): Promise<Fleet | null> {
    const f = await this.fleetAt(head);
    if (f.fleet) return f.fleet;
    for (const c of await this.opts.store.commits(50)) {
      const g = await this.fleetAt(c.sha);
      if (g.fleet) return g.fleet;
    }
    return null;
  }
}
