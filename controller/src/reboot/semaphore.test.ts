import { describe, expect, it } from "vitest";
import { leaseState, release, take, type RebootLease } from "./semaphore.js";

const policy = { allowed: true, maxConcurrent: 2, timeoutMs: 600_000 };
const T = 1_000_000;
const lease = (host: string, over: Partial<RebootLease> = {}): RebootLease => ({ host, generation: `/nix/store/${host}-gen`, acquiredMs: T, expiresMs: T + 600_000, booted: null, ...over });

describe("reboot semaphore", () => {
  it("grants up to maxConcurrent leases fleet-wide, then makes the next host wait until one is released", () => {
    const a = take([], "a", "/g/a", policy, T);
    expect(a).toMatchObject({ granted: true, lease: { host: "a", generation: "/g/a", expiresMs: T + 600_000, booted: null } });
    const b = take([lease("a")], "b", "/g/b", policy, T);
    expect(b.granted).toBe(true);
    const c = take([lease("a"), lease("b")], "c", "/g/c", policy, T + 1_000);
    expect(c).toEqual({ granted: false, reason: "2 of 2 reboot lease(s) held (a, b); waiting", retryAfterMs: 60_000 });
    expect(release([lease("a"), lease("b")], "a", "/nix/store/a-gen", "/nix/store/a-gen")).toEqual({ released: true, reason: "released: booted /nix/store/a-gen" });
    expect(take([lease("b")], "c", "/g/c", policy, T + 2_000).granted).toBe(true);
  });

  it("gives a host that asks again its own lease back (an agent that crashed after taking it)", () => {
    const r = take([lease("a"), lease("b")], "a", "/nix/store/a-gen", policy, T + 5_000);
    expect(r).toMatchObject({ granted: true, lease: { host: "a", acquiredMs: T } });
  });

  it("refuses hosts whose policy is never", () => {
    expect(take([], "a", "/g", { ...policy, allowed: false }, T)).toMatchObject({ granted: false, reason: 'host "a" may not reboot itself: its reboot policy is never' });
  });

  it("an expired lease blocks every further reboot until its host comes back on the expected generation", () => {
    const stuck = lease("a");
    expect(leaseState(stuck, T + 599_999)).toBe("holding");
    expect(leaseState(stuck, T + 600_000)).toBe("blocked");
    const r = take([stuck], "b", "/g/b", policy, T + 700_000);
    expect(r.granted).toBe(false);
    expect(r.reason).toMatch(/^reboots are blocked: host "a" did not come back on \/nix\/store\/a-gen before its lease expired at /);
    // it recovers: released with the expected generation booted, even after expiry
    expect(release([stuck], "a", "/nix/store/a-gen", "/nix/store/a-gen").released).toBe(true);
    expect(take([], "b", "/g/b", policy, T + 700_000).granted).toBe(true);
  });

  it("a release with another generation booted keeps the lease, blocked", () => {
    const r = release([lease("a")], "a", "/nix/store/a-gen", "/nix/store/old-gen");
    expect(r).toMatchObject({ released: false, lease: { host: "a", booted: "/nix/store/old-gen" } });
    const blocked = (r as { lease: RebootLease }).lease;
    expect(leaseState(blocked, T)).toBe("blocked");
    expect(take([blocked], "b", "/g/b", policy, T).reason).toBe('reboots are blocked: host "a" booted /nix/store/old-gen instead of /nix/store/a-gen; it must recover or an operator must release its lease');
    // the blocked host itself may try again (for a newer generation): its own lease is replaced
    expect(take([blocked], "a", "/g/a2", policy, T)).toMatchObject({ granted: true, lease: { generation: "/g/a2", booted: null } });
  });
});
