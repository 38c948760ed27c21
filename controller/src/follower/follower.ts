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
    const r = await loadFleetAtRev(this.mirror, rev);
    const out: FleetAtRev = r.fleet && !hasErrors(r.issues) ? { fleet: r.fleet } : { error: r.issues.filter((i) => i.severity === "error").map(formatIssue).join("; ") };
    if (this.cache.size > 200) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(rev, out);
    return out;
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
    }, this.opts.pollIntervalMs);
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
        if (hint === this.headSha) return;
      }
      const { remote, sha } = await this.mirror.remoteHead();
      this.lastError = null;
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

  private async advance(sha: string, reason: string): Promise<void> {
    const previous = this.headSha;
    let fresh: string[];
    if (previous && (await this.mirror.isAncestor(previous, sha))) fresh = await this.mirror.commitsBetween(previous, sha);
    else fresh = [sha];
    for (const rev of fresh.slice(-MAX_NEW_COMMITS)) {
      const info = await this.mirror.commitInfo(rev);
      const f = await this.fleetAt(rev);
      await this.opts.store.recordCommit({
        sha: rev, observedMs: this.now(), author: info.author, authorEmail: info.authorEmail, committer: info.committer,
        timeMs: Date.parse(info.time), subject: info.subject, parents: info.parents, fleetError: f.error ?? null, pr: null,
      });
      this.opts.onCommit?.(rev);
    }
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
