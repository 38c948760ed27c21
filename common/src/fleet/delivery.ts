/**
 * The fleet file's `delivery` section, normalised: each host's mode (build,
 * substitute, substitute-or-build), how long to wait for a release manifest,
 * the binary caches with their Nix public keys, and the builders' ed25519
 * keys. Pure; called by normalize.ts, which reports the issues with the rest.
 *
 * Mode precedence: an override naming the host exactly beats one that
 * matches it by glob or tag, which beats `delivery.mode`. Two overrides of
 * the same precedence that disagree about a host are an error (which one
 * wins would otherwise depend on their order).
 */
import type { Delivery, DeliveryMode } from "../../../schemas/src/fleet.js";
import { parseDuration } from "../../../schemas/src/duration.js";
import type { FleetIssue } from "./model.js";
import { isTagSelector, resolveSelector, type Selectable } from "./selectors.js";
import { decodeSshEd25519PublicKey } from "./ssh-public-key.js";

export interface CacheSpec {
  url: string;
  publicKey: string;
}

export interface BuilderSpec {
  name: string;
  key: string;
}

export interface DeliverySpec {
  /** Every host's mode (hosts not named default to `build`). */
  modes: Record<string, DeliveryMode>;
  waitMs: number;
  caches: CacheSpec[];
  builders: BuilderSpec[];
}

export const DEFAULT_DELIVERY: DeliverySpec = { modes: {}, waitMs: 600_000, caches: [], builders: [] };

/** The mode of `host` (build when the fleet says nothing). */
export function deliveryMode(delivery: DeliverySpec | undefined, host: string): DeliveryMode {
  return delivery?.modes[host] ?? "build";
}

const isExact = (sel: string) => !isTagSelector(sel) && !/[*?[\]{}!]/.test(sel);

export function normalizeDelivery(
  d: Delivery | undefined,
  hosts: readonly Selectable[],
  error: (path: FleetIssue["path"], message: string) => void,
): DeliverySpec {
  if (!d) return { ...DEFAULT_DELIVERY, modes: Object.fromEntries(hosts.map((h) => [h.name, "build" as const])) };
  const base: DeliveryMode = d.mode ?? "build";
  // host → [precedence, mode, override index]
  const chosen = new Map<string, { exact: boolean; mode: DeliveryMode; at: number }>();
  (d.overrides ?? []).forEach((o, oi) => {
    o.on.forEach((sel, si) => {
      const matched = resolveSelector(sel, hosts);
      if (matched.length === 0) error(["delivery", "overrides", oi, "on", si], `delivery override names "${sel}", which matches no host`);
      const exact = isExact(sel);
      for (const h of matched) {
        const prev = chosen.get(h);
        if (!prev || (exact && !prev.exact)) chosen.set(h, { exact, mode: o.mode, at: oi });
        else if (prev.exact === exact && prev.mode !== o.mode) {
          error(["delivery", "overrides", oi, "on", si], `host "${h}" gets mode "${o.mode}" here and "${prev.mode}" from delivery.overrides[${prev.at}]; name the host exactly to say which wins`);
        }
      }
    });
  });
  const modes: Record<string, DeliveryMode> = {};
  for (const h of hosts) modes[h.name] = chosen.get(h.name)?.mode ?? base;

  const caches = d.caches ?? [];
  const builders = d.builders ?? [];
  builders.forEach((b, i) => {
    try {
      decodeSshEd25519PublicKey(b.key);
    } catch (e) {
      error(["delivery", "builders", i, "key"], `invalid ssh-ed25519 public key: ${(e as Error).message}`);
    }
  });
  const substituting = Object.values(modes).some((m) => m !== "build");
  if (substituting && caches.length === 0) error(["delivery", "caches"], "some hosts substitute but no caches are listed; they could never get their systems");
  if (substituting && builders.length === 0) error(["delivery", "builders"], "some hosts substitute but no builders are listed; no release manifest could ever be trusted");
  const seen = new Set<string>();
  caches.forEach((c, i) => {
    if (seen.has(c.url)) error(["delivery", "caches", i, "url"], `duplicate cache "${c.url}"`);
    seen.add(c.url);
  });
  return {
    modes,
    waitMs: parseDuration(d.wait ?? "10m"),
    caches: caches.map((c) => ({ url: c.url.replace(/\/+$/, ""), publicKey: c.publicKey })),
    builders: builders.map((b) => ({ name: b.name, key: b.key.trim() })),
  };
}
