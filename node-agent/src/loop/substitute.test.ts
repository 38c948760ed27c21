// The substitute step on in-memory ports (a fake Delivery at the port
// boundary, a manual clock) with real ed25519 signatures: fallbacks,
// refusals that never fall back, trust from the last trusted fleet, the
// bounded wait. test/integration/build-once.test.ts covers real git and nix.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memoryLogger } from "../../../common/src/log.js";
import { normalizeFleet } from "../../../common/src/fleet/normalize.js";
import type { Fleet } from "../../../common/src/fleet/model.js";
import { signRelease } from "../../../common/src/release/manifest.js";
import { ed25519FromOpenSsh } from "../../../common/src/signing.js";
import { FleetFile } from "../../../schemas/src/fleet.js";
import { CachePathMissingError, CacheUnreachableError, NarinfoUntrustedError, ReleaseMissingError, ReleaseUntrustedError } from "../errors.js";
import type { AgentDeps, Delivery } from "../ports.js";
import type { LoopContext } from "./context.js";
import { substitute } from "./substitute.js";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const OLD = "a".repeat(40);
const REV = "b".repeat(40);
const OUT = `/nix/store/${"c".repeat(32)}-nixos-system-h1`;
const CACHE = { url: "http://cache", publicKey: "c-1:Hr3ZGgs5n6hY5m1fDmNPpVwSEeEU3KkB1vFq2o2mGkE=" };

function sshKey(name: string) {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-substitute-test-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", join(dir, "k")]);
  return { signer: ed25519FromOpenSsh(readFileSync(join(dir, "k"))), pub: readFileSync(join(dir, "k.pub"), "utf8").trim() };
}
const ci = sshKey("ci");
const forger = sshKey("forger");

function fleet(mode: string, builders: { name: string; key: string }[]): Fleet {
  return normalizeFleet(FleetFile.parse({ version: 1, hosts: [{ name: "h1", kind: "nixos", hostKey: HOST_KEY }], delivery: { mode, wait: "30s", caches: [CACHE], builders } })).fleet!;
}

function release(signer = ci.signer): string {
  return JSON.stringify(
    signRelease(
      {
        type: "flotilla-release",
        version: 1,
        rev: REV,
        builder: { name: "ci", key: signer.publicKeyLine },
        builtAt: "2026-12-02T04:00:00.000Z",
        caches: [],
        hosts: { h1: { kind: "nixos", outPath: OUT, generation: OUT, attribute: "x", closureSize: 1 } },
      },
      signer,
    ),
  );
}

function setup(o: { fleets: Record<string, Fleet>; releases?: Array<string | null>; realise?: () => Promise<{ cache: string }>; has?: boolean }) {
  let t = 0;
  const calls: string[] = [];
  const releases = [...(o.releases ?? [release()])];
  const delivery: Delivery = {
    fetchRelease: async () => {
      calls.push("fetch");
      return releases.length > 1 ? releases.shift()! : releases[0]!;
    },
    has: async () => o.has ?? false,
    realise: async () => {
      calls.push("realise");
      return (o.realise ?? (async () => ({ cache: CACHE.url })))();
    },
  };
  const deps = {
    log: memoryLogger(),
    clock: { now: () => new Date(1_700_000_000_000 + t), random: () => 0, sleep: async (ms: number) => void (t += ms) },
    delivery,
  } as unknown as AgentDeps;
  const ctx: LoopContext = { deps, fleetAt: async (rev) => ({ fleet: o.fleets[rev], errors: [] }) };
  const head = o.fleets[REV]!;
  const run = () => substitute(ctx, { fleet: head, host: head.hosts[0]!, target: { rev: REV, head: REV, kind: "nixos", resolution: "head", remote: "file:///r", policyHead: OLD } });
  return { run, calls, elapsed: () => t };
}

const builders = [{ name: "ci", key: ci.pub }];

describe("substitute", () => {
  it("substitutes the signed out path; skips the copy when the path is already in the store", async () => {
    const s = setup({ fleets: { [OLD]: fleet("substitute", builders), [REV]: fleet("substitute", builders) } });
    expect(await s.run()).toMatchObject({ kind: "substituted", generation: OUT, message: expect.stringMatching(/from http:\/\/cache; release signed by builder "ci"/) });
    const present = setup({ fleets: { [OLD]: fleet("substitute", builders), [REV]: fleet("substitute", builders) }, has: true });
    await present.run();
    expect(present.calls).toEqual(["fetch"]);
  });

  it("waits for the release, looking again with growing pauses, up to delivery.wait", async () => {
    const s = setup({ fleets: { [OLD]: fleet("substitute", builders), [REV]: fleet("substitute", builders) }, releases: [null, null, null, release()] });
    expect((await s.run()).kind).toBe("substituted");
    expect(s.calls.filter((c) => c === "fetch")).toHaveLength(4);
    expect(s.elapsed()).toBe(1000 + 2000 + 5000);
    const never = setup({ fleets: { [OLD]: fleet("substitute", builders), [REV]: fleet("substitute", builders) }, releases: [null] });
    await expect(never.run()).rejects.toThrow(ReleaseMissingError);
    expect(never.elapsed()).toBe(30_000);
  });

  it("substitute-or-build builds when the release or the path is missing or the cache down, never when a signature is bad", async () => {
    const fleets = { [OLD]: fleet("substitute-or-build", builders), [REV]: fleet("substitute-or-build", builders) };
    expect((await setup({ fleets, releases: [null] }).run()).kind).toBe("build");
    expect((await setup({ fleets, realise: async () => Promise.reject(new CachePathMissingError("no")) }).run()).kind).toBe("build");
    expect((await setup({ fleets, realise: async () => Promise.reject(new CacheUnreachableError("down")) }).run()).kind).toBe("build");
    await expect(setup({ fleets, realise: async () => Promise.reject(new NarinfoUntrustedError("bad sig")) }).run()).rejects.toThrow(NarinfoUntrustedError);
    await expect(setup({ fleets, releases: [release(forger.signer)] }).run()).rejects.toThrow(ReleaseUntrustedError);
    // substitute (no fallback): the same cache failure is the answer.
    const strict = { [OLD]: fleet("substitute", builders), [REV]: fleet("substitute", builders) };
    await expect(setup({ fleets: strict, realise: async () => Promise.reject(new CachePathMissingError("no")) }).run()).rejects.toThrow(CachePathMissingError);
  });

  it("trusts the builders of the last trusted fleet, not the ones the new head adds; the head's own when the trusted fleet has none", async () => {
    const withForger = [...builders, { name: "forger", key: forger.pub }];
    const added = setup({ fleets: { [OLD]: fleet("substitute", builders), [REV]: fleet("substitute", withForger) }, releases: [release(forger.signer)] });
    await expect(added.run()).rejects.toThrow(/not one of delivery\.builders \(ci\)/);
    const first = setup({ fleets: { [OLD]: normalizeFleet(FleetFile.parse({ version: 1, hosts: [{ name: "h1", kind: "nixos", hostKey: HOST_KEY }] })).fleet!, [REV]: fleet("substitute", builders) } });
    expect((await first.run()).kind).toBe("substituted");
  });

  it("builds as always when the host's mode is build", async () => {
    const s = setup({ fleets: { [OLD]: fleet("build", builders), [REV]: fleet("build", builders) } });
    expect(await s.run()).toEqual({ kind: "build" });
    expect(s.calls).toEqual([]);
  });
});
