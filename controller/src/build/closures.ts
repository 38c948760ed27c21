/**
 * Closure diffs between two systems, as `nvd` shows them: `nix store
 * diff-closures FROM TO` (per package: version changes, added/removed, size
 * changes of 8 KiB or more) plus the whole closures' sizes (`nix path-info
 * --closure-size`). Shared by `flotilla plan --closures` (what a host runs now
 * vs what REV would run) and `flotilla releases --closures` (release vs
 * release). Both paths must be in the local store; a path that is not is
 * reported, never guessed.
 */
import { existsSync } from "node:fs";
import type { Logger } from "../../../common/src/log.js";
import { readRelease } from "../../../common/src/release/refs.js";
import { ReleaseManifest, SignedRelease, type ReleaseHost } from "../../../schemas/src/release.js";
import { closureSize, storePathOf, type NixRun } from "./builder.js";

export interface ClosureDiff {
  host: string;
  from: string;
  to: string;
  /** `nix store diff-closures` output, "" when nothing changed. */
  diff: string;
  fromSize: number | null;
  toSize: number | null;
  /** toSize - fromSize, when both are known. */
  sizeDelta: number | null;
}

export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${n < 0 ? "-" : ""}${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

export function formatDelta(n: number): string {
  return n === 0 ? "±0 B" : `${n > 0 ? "+" : ""}${formatBytes(n)}`;
}

/** Is this store path on disk (in the local store)? */
export function inLocalStore(path: string): boolean {
  try {
    return existsSync(storePathOf(path));
  } catch {
    return false;
  }
}

/** Diffs the closures of two store paths (or paths inside the store) that are in the local store. */
export async function diffClosures(nix: NixRun, host: string, from: string, to: string): Promise<ClosureDiff> {
  const f = storePathOf(from);
  const t = storePathOf(to);
  const diff = f === t ? "" : (await nix(["--extra-experimental-features", "nix-command", "store", "diff-closures", f, t])).trim();
  const [fromSize, toSize] = await Promise.all([closureSize(nix, f).catch(() => null), closureSize(nix, t).catch(() => null)]);
  return { host, from: f, to: t, diff, fromSize, toSize, sizeDelta: fromSize !== null && toSize !== null ? toSize - fromSize : null };
}

/** Text lines for one diff: the paths, the closure sizes, then diff-closures' lines. */
export function formatClosureDiff(d: ClosureDiff, labels: { from?: string; to?: string } = {}): string[] {
  const out = [`${d.host}: ${d.from}${labels.from ? ` (${labels.from})` : ""}`, `  → ${d.to}${labels.to ? ` (${labels.to})` : ""}`];
  if (d.fromSize !== null && d.toSize !== null) out.push(`  closure ${formatBytes(d.fromSize)} → ${formatBytes(d.toSize)} (${formatDelta(d.sizeDelta!)})`);
  out.push(...(d.diff ? d.diff.split("\n").map((l) => `  ${l}`) : ["  no package changes"]));
  return out;
}

/**
 * The hosts of the release manifest of `rev` in `gitDir`, parsed but not
 * verified (for display: nothing is deployed from it); undefined when there
 * is none or it does not parse.
 */
export async function releaseHosts(o: { gitDir: string; rev: string; log: Logger }): Promise<Record<string, ReleaseHost> | undefined> {
  const text = await readRelease(o);
  if (!text) return undefined;
  try {
    return ReleaseManifest.parse(JSON.parse(SignedRelease.parse(JSON.parse(text)).payload)).hosts;
  } catch {
    return undefined;
  }
}
