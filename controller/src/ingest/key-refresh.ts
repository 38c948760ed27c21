/**
 * A signature that does not verify against the host key the controller knows
 * may be by a key named in a commit it has not fetched yet: during a host-key
 * rotation the operator commits the new `hostKey` and swaps the key on the
 * host, and an agent may sign with the new key before the controller's next
 * poll. Before refusing such a request, the controller fetches the fleet repo
 * once and, when the fleet file at the (new) head names another key for the
 * host, verifies again with that key. The old key is never accepted once a
 * newer fleet file replaced it (a rotation is often a response to a leak).
 *
 * Bounded: a forged signature costs at most one fetch per `minIntervalMs`
 * across all hosts (the follower also coalesces concurrent fetches), and the
 * request waits at most `waitMs` for it.
 */
import type { FleetView } from "../follower/follower.js";
import { hostSpec } from "../rollout/host-index.js";

export interface KeyRefreshOptions {
  fleet: Pick<FleetView, "poke" | "currentFleet">;
  now: () => number;
  minIntervalMs?: number;
  waitMs?: number;
}

export class KeyRefresh {
  private last = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: KeyRefreshOptions) {}

  /** The host's key after a fresh fetch of the fleet repo, when it differs from `key`; otherwise null. */
  async newerKey(host: string, key: string): Promise<string | null> {
    const now = this.o.now();
    if (now - this.last < (this.o.minIntervalMs ?? 1_000)) return this.keyIfChanged(host, key);
    this.last = now;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.o.fleet.poke(`a signature of host "${host}" did not verify: its hostKey may have changed`).catch(() => undefined),
      new Promise<void>((r) => {
        timer = setTimeout(r, this.o.waitMs ?? 5_000);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    return this.keyIfChanged(host, key);
  }

  private keyIfChanged(host: string, key: string): string | null {
    const fleet = this.o.fleet.currentFleet();
    const spec = fleet ? hostSpec(fleet, host) : undefined;
    return spec && spec.hostKey !== key ? spec.hostKey : null;
  }
}
