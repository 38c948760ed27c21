/**
 * The controller as builder (controller.yaml `builder`, docs/delivery.md): on
 * each new head the controller does what `flotilla build --publish` does —
 * build every host's system at that revision (build/builder.ts), sign the
 * paths, copy them to the caches, sign the release manifest and push
 * refs/flotilla/releases/<rev> to the remote the agents poll.
 *
 * One build at a time. A newer head cancels the build in progress: its nix
 * process group is killed (nixRunner with an AbortSignal) and nothing of it
 * is published — the manifest is written and pushed only after every host
 * built and copied, and only when the build was not cancelled. A build that
 * runs past `timeoutMs` is cancelled the same way and reported failed.
 *
 * Per commit it knows building / built / failed (with the builder's error,
 * credentials in URLs redacted, capped) / cancelled, in memory: after a
 * restart the head is built again unless its release is already published.
 */
import { hostname } from "node:os";
import { readFile } from "node:fs/promises";
import type { Fleet } from "../../../common/src/fleet/model.js";
import { redactUrl, gitRunner } from "../../../common/src/git/run.js";
import type { Logger } from "../../../common/src/log.js";
import { signRelease } from "../../../common/src/release/manifest.js";
import { releaseRef, writeRelease } from "../../../common/src/release/refs.js";
import { ed25519FromOpenSsh } from "../../../common/src/signing.js";
import type { ReleaseManifest } from "../../../schemas/src/release.js";
import { BuildCancelledError, buildFleet, nixRunner } from "./builder.js";

export type BuildState =
  | { state: "building"; rev: string; startedMs: number; progress: string }
  | { state: "built"; rev: string; startedMs: number; finishedMs: number; hosts: number }
  | { state: "failed"; rev: string; startedMs: number; finishedMs: number; error: string }
  | { state: "cancelled"; rev: string; startedMs: number; finishedMs: number; reason: string };

/** The longest builder error kept (status, logs); GitHub descriptions are cut further. */
export const MAX_BUILD_ERROR = 2_000;

/** A builder error fit for status and logs: credentials in URLs redacted, control characters dropped, capped. */
export function redactBuildError(message: string): string {
  // eslint-disable-next-line no-control-regex
  const text = redactUrl(message).replace(/\x1b\[[0-9;]*[A-Za-z]/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "");
  return text.length > MAX_BUILD_ERROR ? `${text.slice(0, MAX_BUILD_ERROR - 1)}…` : text;
}

export interface ControllerBuilderOptions {
  /** The controller's bare mirror of the fleet repo (builds read the commit from it; the ref is written there before the push). */
  gitDir: string;
  caches: string[];
  signingKeyFile: string;
  builderKeyFile: string;
  name?: string;
  /** Remote the release ref is pushed to. */
  remote: string;
  timeoutMs: number;
  fleetAt(rev: string): Promise<{ fleet?: Fleet; error?: string }>;
  /** Is a release of `rev` already published and verified? Then it is not built again. */
  isBuilt(rev: string): Promise<boolean>;
  /** Called after a release was published (fetch it back, re-evaluate). */
  onPublished?(rev: string): void;
  /** Called on every state change. */
  onChange?(s: BuildState): void;
  log: Logger;
  env?: Record<string, string | undefined>;
  now?: () => number;
  /** SIGTERM → SIGKILL grace for a cancelled nix (default 5 s). */
  killGraceMs?: number;
}

const FEATURES = "extra-experimental-features = nix-command flakes";

export class ControllerBuilder {
  private readonly states = new Map<string, BuildState>();
  private current: { rev: string; abort: AbortController; done: Promise<void> } | null = null;
  /** The newest requested revision not started yet (a newer request replaces it). */
  private next: string | null = null;
  private stopped = false;
  private readonly now: () => number;
  private readonly env: Record<string, string | undefined>;

  constructor(private readonly o: ControllerBuilderOptions) {
    this.now = o.now ?? Date.now;
    const env = { ...(o.env ?? process.env) };
    env.NIX_CONFIG = env.NIX_CONFIG ? `${env.NIX_CONFIG}\n${FEATURES}` : FEATURES;
    this.env = env;
  }

  stateOf(rev: string): BuildState | undefined {
    return this.states.get(rev);
  }

  /** Build `rev` (a new head): cancels a build of another revision, then starts once it has ended. */
  request(rev: string): void {
    if (this.stopped) return;
    if (this.current?.rev === rev) return;
    if (this.current) {
      this.o.log.info("cancelling release build: a newer head arrived", { rev: this.current.rev.slice(0, 12), newer: rev.slice(0, 12) });
      this.current.abort.abort(new Error(`superseded by ${rev.slice(0, 12)}`));
    }
    this.next = rev;
    void this.pump();
  }

  /** Cancels the build in progress and waits for it to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.next = null;
    const c = this.current;
    if (c) {
      c.abort.abort(new Error("the controller is stopping"));
      await c.done;
    }
  }

  private async pump(): Promise<void> {
    while (!this.current && this.next && !this.stopped) {
      const rev = this.next;
      this.next = null;
      const abort = new AbortController();
      const entry = { rev, abort, done: Promise.resolve() };
      this.current = entry;
      entry.done = this.run(rev, abort).finally(() => {
        this.current = null;
      });
      await entry.done;
    }
  }

  private set(s: BuildState): void {
    this.states.set(s.rev, s);
    if (this.states.size > 100) this.states.delete(this.states.keys().next().value!);
    try {
      this.o.onChange?.(s);
    } catch {
      // a listener's problem is not the build's
    }
  }

  private async run(rev: string, abort: AbortController): Promise<void> {
    const log = this.o.log;
    const startedMs = this.now();
    const short = rev.slice(0, 12);
    if (await this.o.isBuilt(rev).catch(() => false)) {
      log.info("release already published; not building", { rev: short });
      return;
    }
    const f = await this.o.fleetAt(rev);
    if (!f.fleet) {
      log.warn("not building: the fleet file is unusable at this revision", { rev: short, error: f.error });
      return;
    }
    const fleet = f.fleet;
    const timer = setTimeout(() => abort.abort(new Error(`timed out after ${Math.round(this.o.timeoutMs / 1000)}s`)), this.o.timeoutMs);
    timer.unref();
    const buildRef = `refs/flotilla/build/${rev}`;
    const git = gitRunner({ log: log.child("git"), defaultTimeoutMs: 120_000 });
    this.set({ state: "building", rev, startedMs, progress: `0/${fleet.hosts.length} hosts` });
    log.info("release build started", { rev: short, hosts: fleet.hosts.length });
    try {
      const signer = ed25519FromOpenSsh(await readFile(this.o.builderKeyFile), `builder.builderKey ${this.o.builderKeyFile}`);
      // Nix fetches the commit through a ref of its own (the mirror's HEAD names no branch).
      await git(["--git-dir", this.o.gitDir, "update-ref", buildRef, rev]);
      const results = await buildFleet(fleet, {
        nix: nixRunner(this.env, "nix", { signal: abort.signal, ...(this.o.killGraceMs !== undefined ? { killGraceMs: this.o.killGraceMs } : {}) }),
        flakeRef: `git+file://${this.o.gitDir}?ref=${encodeURIComponent(buildRef)}&rev=${rev}`,
        signingKeyFile: this.o.signingKeyFile,
        caches: this.o.caches,
        progress: (e) => {
          const done = e.stage === "done" ? e.index : e.index - 1;
          const what = e.stage === "copy" ? `copying ${e.host} to ${redactUrl(e.detail ?? "")}` : e.stage === "done" ? `${e.host} done` : `${e.stage === "build" ? "building" : "signing"} ${e.host}`;
          this.set({ state: "building", rev, startedMs, progress: `${done}/${e.total} hosts, ${what}` });
          log.info("release build progress", { rev: short, done, total: e.total, host: e.host, stage: e.stage, elapsedMs: this.now() - startedMs });
        },
      });
      // Nothing is published for a cancelled build, even one that got this far.
      if (abort.signal.aborted) throw new BuildCancelledError(String((abort.signal.reason as Error | undefined)?.message ?? "cancelled"));
      const manifest: ReleaseManifest = {
        type: "flotilla-release",
        version: 1,
        rev,
        builder: { name: this.o.name ?? `controller@${hostname()}`, key: signer.publicKeyLine },
        builtAt: new Date(this.now()).toISOString(),
        caches: this.o.caches.map(redactUrl),
        hosts: Object.fromEntries(results.map(({ host, kind, outPath, generation, attribute, closureSize }) => [host, { kind, outPath, generation, attribute, closureSize }])),
      };
      const commit = await writeRelease({ gitDir: this.o.gitDir, rev, text: JSON.stringify(signRelease(manifest, signer), null, 2) + "\n", log });
      try {
        // By commit, not by the local ref: the follower's pruning fetch may drop that ref until the push lands.
        await git(["--git-dir", this.o.gitDir, "push", "--quiet", this.o.remote, `+${commit}:${releaseRef(rev)}`]);
      } catch (e) {
        // Not on the remote, so not in the mirror either: agents could never fetch it.
        await git(["--git-dir", this.o.gitDir, "update-ref", "-d", releaseRef(rev)], { allowFail: true });
        throw e;
      }
      const finishedMs = this.now();
      this.set({ state: "built", rev, startedMs, finishedMs, hosts: results.length });
      log.info("release built and published", { rev: short, hosts: results.length, remote: redactUrl(this.o.remote), ms: finishedMs - startedMs });
      this.o.onPublished?.(rev);
    } catch (e) {
      const finishedMs = this.now();
      const reason = (abort.signal.reason as Error | undefined)?.message;
      if (abort.signal.aborted && !reason?.startsWith("timed out")) {
        this.set({ state: "cancelled", rev, startedMs, finishedMs, reason: reason ?? "cancelled" });
        log.info("release build cancelled; nothing published", { rev: short, reason });
      } else {
        const error = redactBuildError(abort.signal.aborted ? `${reason}: ${(e as Error).message}` : (e as Error).message);
        this.set({ state: "failed", rev, startedMs, finishedMs, error });
        log.error("release build failed; nothing published", { rev: short, error });
      }
    } finally {
      clearTimeout(timer);
      await git(["--git-dir", this.o.gitDir, "update-ref", "-d", buildRef], { allowFail: true }).catch(() => undefined);
    }
  }
}
