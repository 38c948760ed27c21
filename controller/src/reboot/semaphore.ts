/**
 * The reboot semaphore (after Zincati's FleetLock): at most `maxConcurrent`
 * hosts of the fleet hold a reboot lease at once. Pure: leases in, verdict
 * and the lease changes out; the store persists them under a lock.
 *
 * - take: a host that already holds a lease for the same generation gets it
 *   again (an agent that crashed after taking it asks again). A host that is
 *   not allowed to reboot (policy never) is refused.
 * - A lease has an owner host and an expiry (`reboot.timeout`). A lease that
 *   expired without its release is *blocked*: the host did not come back on
 *   the expected generation in time. A blocked lease (or one released with
 *   the wrong generation booted) blocks every further take fleet-wide: a bad
 *   generation that does not boot must not take down the next host too.
 * - It ends when the host releases it having booted the expected generation
 *   (it recovered), or when an operator releases it.
 */
export interface RebootLease {
  host: string;
  generation: string;
  acquiredMs: number;
  expiresMs: number;
  /** Set when the host released having booted something else: blocked until it recovers or an operator acts. */
  booted: string | null;
}

export interface RebootPolicyView {
  /** May this host reboot itself (policy auto)? */
  allowed: boolean;
  maxConcurrent: number;
  timeoutMs: number;
}

export type LeaseState = "holding" | "blocked";

export function leaseState(l: RebootLease, nowMs: number): LeaseState {
  return l.booted !== null || l.expiresMs <= nowMs ? "blocked" : "holding";
}

export type TakeResult =
  | { granted: true; lease: RebootLease; reason: string }
  | { granted: false; reason: string; retryAfterMs: number };

export function take(leases: readonly RebootLease[], host: string, generation: string, policy: RebootPolicyView, nowMs: number): TakeResult {
  if (!policy.allowed) return { granted: false, reason: `host "${host}" may not reboot itself: its reboot policy is never`, retryAfterMs: 3_600_000 };
  const own = leases.find((l) => l.host === host);
  if (own && own.generation === generation && leaseState(own, nowMs) === "holding") {
    return { granted: true, lease: own, reason: `already holds the reboot lease for ${generation} until ${new Date(own.expiresMs).toISOString()}` };
  }
  const blocked = leases.filter((l) => leaseState(l, nowMs) === "blocked" && l.host !== host);
  if (blocked.length > 0) {
    const b = blocked[0]!;
    const why = b.booted !== null ? `booted ${b.booted} instead of ${b.generation}` : `did not come back on ${b.generation} before its lease expired at ${new Date(b.expiresMs).toISOString()}`;
    return { granted: false, reason: `reboots are blocked: host "${b.host}" ${why}; it must recover or an operator must release its lease`, retryAfterMs: 60_000 };
  }
  const holding = leases.filter((l) => l.host !== host && leaseState(l, nowMs) === "holding");
  if (holding.length >= policy.maxConcurrent) {
    const soonest = Math.min(...holding.map((l) => l.expiresMs));
    return {
      granted: false,
      reason: `${holding.length} of ${policy.maxConcurrent} reboot lease(s) held (${holding.map((l) => l.host).join(", ")}); waiting`,
      retryAfterMs: Math.max(1_000, Math.min(soonest - nowMs, 60_000)),
    };
  }
  return { granted: true, lease: { host, generation, acquiredMs: nowMs, expiresMs: nowMs + policy.timeoutMs, booted: null }, reason: `reboot lease granted (${holding.length + 1} of ${policy.maxConcurrent})` };
}

export type ReleaseResult = { released: true; reason: string } | { released: false; lease: RebootLease | null; reason: string };

/** The host's release after booting: only booting the expected generation ends the lease. */
export function release(leases: readonly RebootLease[], host: string, generation: string, booted: string | undefined): ReleaseResult {
  const own = leases.find((l) => l.host === host);
  if (!own) return { released: true, reason: "no lease held" };
  if (booted !== undefined && booted !== own.generation) {
    return { released: false, lease: { ...own, booted }, reason: `booted ${booted}, expected ${own.generation}: the lease stays and blocks further reboots until the host recovers or an operator releases it` };
  }
  if (generation !== own.generation && booted === undefined) {
    return { released: false, lease: null, reason: `the lease is for ${own.generation}, not ${generation}` };
  }
  return { released: true, reason: `released: booted ${own.generation}` };
}
