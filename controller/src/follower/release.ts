/**
 * What the controller knows about the release of one commit (docs/delivery.md
 * "The controller"): the signed manifest under refs/flotilla/releases/<rev>,
 * checked with the same pure function the agent uses (common/src/release)
 * against delivery.builders of the last trusted fleet file (the parent's when
 * it lists builders, else the commit's own — a commit cannot vouch for a
 * manifest with a key it adds itself).
 */
import { checkRelease } from "../../../common/src/release/manifest.js";
import type { Fleet } from "../../../common/src/fleet/model.js";

export interface ReleaseView {
  /**
   * built: verified, for this revision; missing: no ref; untrusted: bad
   * signature/key; invalid: not for this revision; building / failed: no
   * usable ref yet, and the controller's own builder is building it / failed.
   */
  state: "built" | "missing" | "untrusted" | "invalid" | "building" | "failed";
  reason?: string;
  /** Hosts the verified manifest covers (built only). */
  hosts: string[];
  builder?: string;
  /** When the release was published (the ref commit's time), for opening held waves. */
  atMs?: number;
}

/** Hosts whose delivery mode is exactly `substitute` (they cannot fall back to building). */
export function substituteOnlyHosts(fleet: Fleet): string[] {
  const modes = fleet.delivery?.modes ?? {};
  return fleet.hosts.filter((h) => modes[h.name] === "substitute").map((h) => h.name);
}

export function releaseView(text: string | null, o: { rev: string; fleet: Fleet; trusted: Fleet | null; atMs?: number }): ReleaseView {
  if (text === null) return { state: "missing", hosts: [], reason: `no release manifest under refs/flotilla/releases/${o.rev}` };
  const builders = o.trusted?.delivery?.builders.length ? o.trusted.delivery.builders : (o.fleet.delivery?.builders ?? []);
  // Check against any host the manifest may name: the first substituting host, else the first host.
  let probe: string | undefined;
  try {
    const env = JSON.parse(text) as { payload?: string };
    const names = Object.keys((JSON.parse(env.payload ?? "{}") as { hosts?: Record<string, unknown> }).hosts ?? {});
    probe = names[0];
  } catch {
    probe = undefined;
  }
  const check = checkRelease(text, { builders, rev: o.rev, host: probe ?? "" });
  if (!check.ok) return { state: check.problem === "untrusted" ? "untrusted" : "invalid", hosts: [], reason: check.message };
  return { state: "built", hosts: Object.keys(check.manifest.hosts).sort(), builder: check.builder, ...(o.atMs !== undefined ? { atMs: o.atMs } : {}) };
}

/** What the controller's builder knows about a commit (build/controller-builder.ts BuildState, narrowed). */
export type BuildInfo =
  | { state: "building"; progress: string; startedMs: number }
  | { state: "built" }
  | { state: "failed"; error: string }
  | { state: "cancelled"; reason: string };

/**
 * The release view with the controller builder's state folded in: a verified
 * ref always wins (`built`); otherwise a build in progress reads `building`,
 * a failed one `failed` with the builder's error, a cancelled one keeps the
 * ref's state with the reason.
 */
export function withBuild(view: ReleaseView, build: BuildInfo | undefined, now: number): ReleaseView {
  if (view.state === "built" || !build) return view;
  if (build.state === "building") return { state: "building", hosts: [], reason: `building since ${Math.round((now - build.startedMs) / 1000)}s: ${build.progress}` };
  if (build.state === "failed") return { state: "failed", hosts: [], reason: build.error };
  if (build.state === "cancelled" && view.state === "missing") return { ...view, reason: `the controller's build was cancelled (${build.reason})` };
  return view;
}

/** One line of a builder error for short places (GitHub description, status title): the host and nix's last line. */
export function briefBuildError(error: string): string {
  const lines = error.split("\n").map((l) => l.trim()).filter(Boolean);
  const host = /^host ([^:\s]+):/.exec(lines[0] ?? "")?.[1];
  const last = lines[lines.length - 1] ?? "";
  return host && !last.startsWith(`host ${host}:`) ? `${host}: ${last}` : last;
}
