/**
 * Issue 11 item 4: the controller fetches refs/flotilla/releases/*, verifies
 * each manifest against delivery.builders, shows the release state per
 * rollout and holds a wave with `delivery: substitute` members until the
 * release of its commit is built and lists them. Real controller, real fleet
 * repo, a real manifest signed with a real ssh-keygen ed25519 builder key and
 * written under its ref with the same code `flotilla build` uses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { execa } from "execa";
import type { GateAnswer, StatusReport } from "../../schemas/src/api.js";
import { signRelease } from "../../common/src/release/manifest.js";
import { writeRelease } from "../../common/src/release/refs.js";
import { ed25519FromOpenSsh, type HostSigner } from "../../common/src/signing.js";
import { createLogger } from "../../common/src/log.js";
import { makeTempDir } from "../helpers/tmp.js";
import { makeHostSigners, fleetYaml, newFleetRepo, SimAgent, startTestController, api, waitFor } from "./controller/harness.js";

const HOSTS = ["canary-1", "web-1"];
let signers: Record<string, HostSigner>;
let builderKey: string;
let builderPub: string;
let strangerKey: string;
beforeAll(async () => {
  signers = await makeHostSigners(HOSTS);
  const dir = await makeTempDir("flotilla-builder-");
  for (const n of ["builder", "stranger"]) await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", n, "-f", join(dir, n)]);
  builderKey = join(dir, "builder");
  strangerKey = join(dir, "stranger");
  builderPub = (await readFile(`${builderKey}.pub`, "utf8")).trim();
});

function substituteFleet(): string {
  const f = parse(fleetYaml(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1"] }] })) as Record<string, unknown>;
  return stringify({
    ...f,
    delivery: {
      mode: "build",
      overrides: [{ on: ["canary-1"], mode: "substitute" }],
      caches: [{ url: "http://127.0.0.1:9/cache", publicKey: "cache-1:" + Buffer.alloc(32, 7).toString("base64") }],
      builders: [{ name: "ci", key: builderPub }],
    },
  });
}

async function publish(dir: string, rev: string, keyFile: string, name: string): Promise<void> {
  const signer = ed25519FromOpenSsh(await readFile(keyFile), name);
  const manifest = {
    type: "flotilla-release" as const, version: 1 as const, rev, builder: { name: "ci", key: signer.publicKeyLine }, builtAt: new Date().toISOString(), caches: [],
    hosts: { "canary-1": { kind: "nixos" as const, outPath: `/nix/store/${"a".repeat(32)}-nixos-system-canary-1`, generation: `/nix/store/${"a".repeat(32)}-nixos-system-canary-1`, attribute: "nixosConfigurations.canary-1.config.system.build.toplevel", closureSize: 1 } },
  };
  await writeRelease({ gitDir: join(dir, ".git"), rev, text: JSON.stringify(signRelease(manifest, signer)), log: createLogger({ component: "test", level: "error" }) });
}

describe("controller: release gating for delivery: substitute", () => {
  const stops: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const s of stops) await s();
  });

  it("status says missing and the gate waits; an untrusted manifest keeps it waiting; a built release opens the wave", async () => {
    const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1"] }] });
    const C = await repo.commit({ "fleet.yaml": substituteFleet() }, "canary-1 substitutes");
    const ctl = await startTestController({ repo });
    stops.push(ctl.stop);
    expect(ctl.follower.head()).toBe(C);
    const canary = new SimAgent(signers["canary-1"]!, ctl.url);
    const rollout = async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body.rollouts.find((r) => r.rev === C)!;

    expect((await rollout()).release).toMatchObject({ state: "missing" });
    let g = await canary.gate(C);
    expect(g.body).toMatchObject({ decision: "wait", wave: "canary", reason: `waiting for the release of ${C.slice(0, 12)} (flotilla build --publish)` } satisfies Partial<GateAnswer>);
    expect((await api<string>(ctl.url, "/api/v1/status?format=text")).body).toMatch(/release missing/);

    // Signed by a key that is not in delivery.builders: untrusted, still waiting.
    await publish(repo.dir, C, strangerKey, "stranger");
    await ctl.follower.poke("test");
    await waitFor(async () => (await rollout()).release?.state === "untrusted", "untrusted release in status");
    g = await canary.gate(C);
    expect(g.body.decision).toBe("wait");
    expect(g.body.reason).toMatch(/untrusted: .*not one of delivery\.builders/);

    // The real builder publishes: built, the wave opens.
    await publish(repo.dir, C, builderKey, "ci");
    await ctl.follower.poke("test");
    await waitFor(async () => (await rollout()).release?.state === "built", "built release in status");
    expect((await rollout()).release).toMatchObject({ state: "built", hosts: ["canary-1"] });
    g = await waitFor(async () => {
      const x = await canary.gate(C);
      return x.body.decision === "open" ? x : null;
    }, "the canary gate to open");
    expect(g.body).toMatchObject({ decision: "open", wave: "canary" });
  });
});
