/**
 * `flotilla plan --closures`: per host, the closure diff between what the
 * host runs now and what REV would run — what nvd shows before a merge.
 *
 * What it runs now, in this order:
 *   1. the controller's status (the generation the host last reported), when
 *      the controller answers;
 *   2. the release manifest of the host's current revision: the revision the
 *      controller says it runs, or — the controller not reachable — what the
 *      fleet at REV's first parent gives it (its pin there, else the parent);
 *   3. otherwise unknown, and why.
 * What REV would run: the release of the host's target at REV (its pin, else
 * REV); without one, the system is built here (`nix build`, as the builder
 * does). A path not in the local store is fetched from the fleet's
 * delivery.caches with signatures required, else reported as missing. The
 * diff itself is build/closures.ts (shared with `flotilla releases --closures`).
 */
import type { Fleet, HostSpec } from "../../../common/src/fleet/model.js";
import type { Logger } from "../../../common/src/log.js";
import { planRollout } from "../../../common/src/plan/plan.js";
import type { StatusReport } from "../../../schemas/src/api.js";
import type { ReleaseHost } from "../../../schemas/src/release.js";
import { buildHostSystem, storePathOf, type NixRun } from "../build/builder.js";
import { diffClosures, formatClosureDiff, inLocalStore, releaseHosts, type ClosureDiff } from "../build/closures.js";

export interface ClosureSide {
  /** A store path, or null when unknown. */
  path: string | null;
  /** Where it came from, or why it is unknown. */
  source: string;
}

export interface HostClosurePlan {
  host: string;
  from: ClosureSide;
  to: ClosureSide;
  diff: ClosureDiff | null;
  /** Why there is no diff. */
  note?: string;
}

export interface PlanClosuresInput {
  fleet: Fleet;
  rev: string;
  /** REV's first parent and its fleet (for hosts the controller cannot tell about). */
  parent?: { rev: string; fleet: Fleet | undefined };
  gitDir: string;
  /** A flake reference of the fleet repo at a revision. */
  flakeRef: (rev: string) => string;
  nix: NixRun;
  log: Logger;
  /** The controller's status, or why it could not be read. */
  controller: { status: StatusReport } | { error: string };
  /** Progress lines (stderr). */
  progress?: (line: string) => void;
}

const short = (rev: string) => rev.slice(0, 12);

export async function planClosures(i: PlanClosuresInput): Promise<HostClosurePlan[]> {
  const releases = new Map<string, Promise<Record<string, ReleaseHost> | undefined>>();
  const release = (rev: string) => {
    let p = releases.get(rev);
    if (!p) releases.set(rev, (p = releaseHosts({ gitDir: i.gitDir, rev, log: i.log })));
    return p;
  };
  let system: Promise<string> | null = null;
  const currentSystem = () => (system ??= i.nix(["eval", "--impure", "--raw", "--expr", "builtins.currentSystem"]).then((s) => s.trim()));
  const caches = i.fleet.delivery?.caches ?? [];

  /** Puts `path` into the local store from the fleet's caches (signatures required); true when it is there. */
  const realise = async (path: string): Promise<boolean> => {
    if (inLocalStore(path)) return true;
    if (!caches.length) return false;
    const keys = caches.map((c) => c.publicKey).join(" ");
    for (const c of caches) {
      try {
        await i.nix(["copy", "--from", c.url, "--option", "require-sigs", "true", "--option", "trusted-public-keys", keys, storePathOf(path)]);
        if (inLocalStore(path)) return true;
      } catch {
        // next cache
      }
    }
    return false;
  };
  const missing = (path: string, source: string): ClosureSide => ({
    path: null,
    source: `${source}: ${storePathOf(path)} is not in the local store${caches.length ? " and no cache of delivery.caches has it" : ""}`,
  });

  /** The release entry of `host` at `rev` as a side, or null when that release does not name it. */
  const fromRelease = async (host: string, rev: string, why: string): Promise<ClosureSide | null> => {
    const entry = (await release(rev))?.[host];
    if (!entry) return null;
    const source = `release of ${short(rev)}${why}`;
    return (await realise(entry.outPath)) ? { path: entry.outPath, source } : missing(entry.outPath, source);
  };

  const runsNow = async (host: HostSpec): Promise<ClosureSide> => {
    if ("status" in i.controller) {
      const s = i.controller.status.hosts.find((h) => h.host === host.name);
      if (!s?.currentRev) return { path: null, source: `unknown: the controller has no report of what ${host.name} runs` };
      if (s.generation?.startsWith("/nix/store/")) {
        const source = `running ${short(s.currentRev)} (the controller's status)`;
        if (await realise(s.generation)) return { path: s.generation, source };
        const alt = await fromRelease(host.name, s.currentRev, `, which it runs (the controller's status)`);
        return alt?.path ? alt : missing(s.generation, source);
      }
      return (await fromRelease(host.name, s.currentRev, `, which it runs (the controller's status)`)) ?? { path: null, source: `unknown: no release of ${short(s.currentRev)}, which ${host.name} runs, names it` };
    }
    const why = `the controller is not reachable (${i.controller.error})`;
    if (!i.parent) return { path: null, source: `unknown: ${why}, and REV has no parent` };
    const spec = i.parent.fleet?.hosts.find((h) => h.name === host.name);
    if (i.parent.fleet && !spec) return { path: null, source: `unknown: new host (not in the fleet at ${short(i.parent.rev)})` };
    const rev = spec?.pin ?? i.parent.rev;
    return (
      (await fromRelease(host.name, rev, ` (what the fleet at REV's parent ${short(i.parent.rev)} deploys; ${why})`)) ?? {
        path: null,
        source: `unknown: ${why}, and no release of ${short(rev)} (REV's parent${spec?.pin ? "'s pin" : ""}) names ${host.name}`,
      }
    );
  };

  const wouldRun = async (host: HostSpec, target: string): Promise<ClosureSide> => {
    const rel = await fromRelease(host.name, target, "");
    if (rel?.path) return rel;
    i.progress?.(`building ${host.name} at ${short(target)} (no release in the local store)`);
    try {
      const built = await buildHostSystem({ nix: i.nix, flakeRef: i.flakeRef(target) }, host, currentSystem);
      return { path: built.outPath, source: `built here at ${short(target)}` };
    } catch (e) {
      return { path: null, source: `cannot build ${host.name} at ${short(target)}: ${(e as Error).message.split("\n").slice(-3).join(" ")}` };
    }
  };

  const plan = planRollout(i.fleet, i.rev);
  const out: HostClosurePlan[] = [];
  for (const hp of plan.hosts) {
    const host = i.fleet.hosts.find((h) => h.name === hp.host)!;
    const [from, to] = [await runsNow(host), await wouldRun(host, hp.target.rev)];
    if (!from.path || !to.path) {
      out.push({ host: host.name, from, to, diff: null, note: !from.path ? from.source : to.source });
      continue;
    }
    try {
      out.push({ host: host.name, from, to, diff: await diffClosures(i.nix, host.name, from.path, to.path) });
    } catch (e) {
      out.push({ host: host.name, from, to, diff: null, note: `nix store diff-closures failed: ${(e as Error).message.split("\n").slice(-2).join(" ")}` });
    }
  }
  return out;
}

export function formatPlanClosures(rev: string, rows: HostClosurePlan[]): string[] {
  const out = [`closures: what each host runs now → what ${short(rev)} would run`];
  for (const r of rows) {
    if (r.diff) out.push(...formatClosureDiff(r.diff, { from: r.from.source, to: r.to.source }));
    else out.push(`${r.host}: no diff: ${r.note ?? "unknown"}`);
  }
  return out;
}
