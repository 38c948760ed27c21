/**
 * The controller's side of reboot coordination: answers a host's signed
 * take/release of its reboot lease with the pure semaphore, under the
 * store's lock (so two controllers on one PostgreSQL database never grant
 * more than `maxConcurrent`), and reports every host's lease for status.
 * A host takes a lease only inside its maintenance window.
 */
import type { HostRebootStatus, RebootLeaseAnswer, RebootLeaseRequest } from "../../../schemas/src/api.js";
import type { Fleet } from "../../../common/src/fleet/model.js";
import type { Logger } from "../../../common/src/log.js";
import { windowHold, windowRetryAfterMs } from "../../../common/src/plan/window-hold.js";
import { hostSpec } from "../rollout/host-index.js";
import type { Store } from "../store/types.js";
import { leaseState, release, take, type RebootLease } from "./semaphore.js";

const LOCK = "reboot-leases";
const iso = (ms: number) => new Date(ms).toISOString();

export class RebootLeases {
  constructor(private readonly o: { store: Store; now: () => number; log: Logger }) {}

  async request(q: RebootLeaseRequest, fleet: Fleet | null): Promise<RebootLeaseAnswer> {
    const answer = (granted: boolean, reason: string, expiresMs: number | null, retryAfterMs?: number): RebootLeaseAnswer => ({
      host: q.host, granted, reason, expiresAt: expiresMs === null ? null : iso(expiresMs), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
    return this.o.store.withLock(LOCK, async () => {
      const now = this.o.now();
      const leases = await this.o.store.rebootLeases();
      if (q.action === "release") {
        const r = release(leases, q.host, q.generation, q.booted);
        if (r.released) {
          await this.o.store.deleteRebootLease(q.host);
          this.o.log.info("reboot lease released", { host: q.host, generation: q.generation });
          return answer(true, r.reason, null);
        }
        if (r.lease) await this.o.store.putRebootLease(r.lease);
        this.o.log.warn("reboot lease kept", { host: q.host, reason: r.reason });
        return answer(false, r.reason, null);
      }
      const spec = fleet ? hostSpec(fleet, q.host) : undefined;
      const held = windowHold(spec, now);
      if (held) return answer(false, `the host is ${held.reason}`, null, windowRetryAfterMs(held, now));
      const policy = { allowed: !!fleet?.reboot?.auto.includes(q.host), maxConcurrent: fleet?.reboot?.maxConcurrent ?? 1, timeoutMs: fleet?.reboot?.timeoutMs ?? 900_000 };
      const r = take(leases, q.host, q.generation, policy, now);
      if (!r.granted) return answer(false, r.reason, null, r.retryAfterMs);
      if (r.lease.acquiredMs === now) await this.o.store.putRebootLease(r.lease);
      this.o.log.info("reboot lease granted", { host: q.host, generation: q.generation, expires: iso(r.lease.expiresMs) });
      return answer(true, r.reason, r.lease.expiresMs);
    });
  }

  /** An operator ends a host's lease (it was repaired by hand, or will not come back). */
  async operatorRelease(host: string, reason: string): Promise<{ host: string; released: boolean; lease: RebootLease | null; reason: string }> {
    return this.o.store.withLock(LOCK, async () => {
      const lease = (await this.o.store.rebootLeases()).find((l) => l.host === host) ?? null;
      const released = await this.o.store.deleteRebootLease(host);
      this.o.log.info("reboot lease released by an operator", { host, released, reason });
      return { host, released, lease, reason };
    });
  }

  /** Per host with policy auto or a lease: its reboot status. */
  async statuses(fleet: Fleet | null): Promise<Map<string, HostRebootStatus>> {
    const now = this.o.now();
    const out = new Map<string, HostRebootStatus>();
    for (const h of fleet?.reboot?.auto ?? []) out.set(h, { policy: "auto", state: "none", expectedGeneration: null, leaseExpires: null });
    for (const l of await this.o.store.rebootLeases()) {
      out.set(l.host, {
        policy: fleet?.reboot?.auto.includes(l.host) ? "auto" : "never",
        state: leaseState(l, now),
        expectedGeneration: l.generation,
        leaseExpires: iso(l.expiresMs),
      });
    }
    return out;
  }
}
