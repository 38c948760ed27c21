/**
 * Substitute instead of build (fleet.yaml `delivery`, docs/delivery.md): the
 * host waits (bounded) for the signed release manifest of its target
 * revision, checks the builder's signature against `delivery.builders`,
 * realises the manifest's out path from the binary caches (Nix checks every
 * narinfo signature against the caches' keys) and checks that exactly that
 * path is now in the store. The generation then goes through the ordinary
 * state machine (built → activating → …); nothing here changes the host.
 *
 * Trust: builders and caches come from the fleet file of the last trusted
 * head (`target.policyHead`) when it lists builders, else from the target's
 * own head — the rule `policy.allowedSigners` follows — so a commit cannot
 * vouch for a manifest with a key it adds itself.
 *
 * Refusals never fall back to building: an untrusted or mismatched manifest
 * and an untrusted narinfo are errors. A manifest that never came and a cache
 * that is down or lacks the path fall back only in `substitute-or-build`.
 */
import { checkRelease } from "../../../common/src/release/manifest.js";
import { deliveryMode, DEFAULT_DELIVERY } from "../../../common/src/fleet/delivery.js";
import type { Fleet, HostSpec } from "../../../common/src/fleet/model.js";
import {
  CachePathMissingError,
  CacheUnreachableError,
  ReleaseMismatchError,
  ReleaseMissingError,
  ReleaseUntrustedError,
} from "../errors.js";
import type { LoopContext } from "./context.js";
import type { Target } from "./phases.js";

export type SubstituteResult = { kind: "build"; reason?: string } | { kind: "substituted"; generation: string; message: string };

/** Between looks at the release ref while waiting for it. */
const LOOK_EVERY_MS = [1000, 2000, 5000, 10_000, 15_000];

export async function substitute(ctx: LoopContext, o: { fleet: Fleet; host: HostSpec; target: Target }): Promise<SubstituteResult> {
  const { deps } = ctx;
  const mode = deliveryMode(o.fleet.delivery, o.host.name);
  if (mode === "build") return { kind: "build" };
  const delivery = deps.delivery;
  if (!delivery) return { kind: "build", reason: "this agent has no substituter" };
  const { rev, remote } = o.target;
  const policyFleet = o.target.policyHead && o.target.policyHead !== o.target.head ? (await ctx.fleetAt(o.target.policyHead)).fleet : undefined;
  const trusted = policyFleet?.delivery?.builders.length ? policyFleet.delivery : (o.fleet.delivery ?? DEFAULT_DELIVERY);
  const waitMs = o.fleet.delivery?.waitMs ?? DEFAULT_DELIVERY.waitMs;
  const fallback = mode === "substitute-or-build";

  // 1. The manifest: look at the ref until it appears or the wait is over.
  const t0 = deps.clock.now().getTime();
  let text: string | null = null;
  let lastError = "";
  for (let attempt = 0; ; attempt++) {
    try {
      text = await delivery.fetchRelease(remote, rev);
      lastError = "";
    } catch (e) {
      lastError = (e as Error).message;
    }
    if (text !== null) break;
    const left = t0 + waitMs - deps.clock.now().getTime();
    if (left <= 0) break;
    if (attempt === 0) deps.log.info("waiting for the release manifest", { rev, waitMs });
    await deps.clock.sleep(Math.min(left, LOOK_EVERY_MS[Math.min(attempt, LOOK_EVERY_MS.length - 1)]!));
  }
  if (text === null) {
    const why = `no release manifest for ${rev.slice(0, 12)} (refs/flotilla/releases/${rev}) appeared within ${Math.round(waitMs / 1000)}s${lastError ? ` (last error: ${lastError})` : ""}`;
    if (fallback) {
      deps.log.warn("building: the release did not come", { rev, reason: why });
      return { kind: "build", reason: why };
    }
    throw new ReleaseMissingError(`${why}; delivery is "substitute", so this host does not build it; keeping the current generation`);
  }

  // 2. Whose manifest, for what.
  const check = checkRelease(text, { builders: trusted.builders, rev, host: o.host.name });
  if (!check.ok) {
    const E = check.problem === "untrusted" ? ReleaseUntrustedError : ReleaseMismatchError;
    throw new E(`refusing the release of ${rev.slice(0, 12)}: ${check.message}`);
  }
  const { entry } = check;
  const consistent = entry.kind === o.host.kind && (entry.kind === "nixos" ? entry.generation === entry.outPath : entry.generation.startsWith(`${entry.outPath}/`));
  if (!consistent) throw new ReleaseMismatchError(`refusing the release of ${rev.slice(0, 12)}: it describes host "${o.host.name}" as ${entry.kind} ${entry.generation}, which does not fit a ${o.host.kind} host`);

  // 3. The closure, from the caches, signatures checked by Nix.
  let from = "the local store";
  if (!(await delivery.has(entry.outPath))) {
    try {
      from = (await delivery.realise(entry.outPath, trusted.caches)).cache;
    } catch (e) {
      if (fallback && (e instanceof CachePathMissingError || e instanceof CacheUnreachableError)) {
        deps.log.warn("building: the caches cannot provide the release", { rev, error: (e as Error).message });
        return { kind: "build", reason: (e as Error).message };
      }
      throw e;
    }
    // 4. Exactly the manifest's path is there now: realise() checks it (SubstituteMismatchError).
  }
  return {
    kind: "substituted",
    generation: entry.generation,
    message: `substituted ${entry.outPath} from ${from}; release signed by builder "${check.builder}"`,
  };
}
