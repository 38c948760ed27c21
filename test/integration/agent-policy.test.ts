// What the agent refuses or waits for, on real git: unsigned commits when
// the fleet requires signatures, force-pushed branches, a broken fleet file
// at the new head, and later waves without (or with a shut) controller gate.
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { startTestController } from "./agent/controller.js";
import { makeKey, World } from "./agent/helpers.js";
import type { GateAnswer } from "../../schemas/src/api.js";

afterAll(async () => {
  await cleanupTempDirs();
});

describe("agent policy", () => {
  it("refuses an unsigned commit when the fleet requires signed commits, and deploys signed ones", async () => {
    const w = await World.create();
    const signer = makeKey(w.root, "signer");
    await w.repo.git(["config", "gpg.format", "ssh"]);
    await w.repo.git(["config", "user.signingkey", signer.path]);
    await w.repo.git(["config", "commit.gpgsign", "true"]);
    const fleet = w.fleet({ policy: { requireSignedCommits: true, allowedSigners: [{ principal: "test@flotilla.invalid", key: signer.pub }] } });
    const c1 = await w.commit({ "fleet.yaml": fleet }, "signed c1");
    expect((await w.once()).code).toBe(0);
    const gen1 = await w.activeGeneration();

    await w.repo.git(["config", "commit.gpgsign", "false"]);
    const unsigned = await w.commit({ "notes.txt": "sneaky" }, "unsigned");
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`UnsignedCommit: commit ${unsigned.slice(0, 12)} has no valid ssh signature by an allowed signer \\(the commit is not signed\\)`));
    expect(await w.activeGeneration()).toBe(gen1);
    expect((await w.state()).current?.rev).toBe(c1);

    await w.repo.git(["config", "commit.gpgsign", "true"]);
    const c3 = await w.commit({ "notes.txt": "signed again" }, "signed c3");
    const r3 = await w.once();
    expect(r3.code, r3.err).toBe(0);
    expect((await w.state()).current?.rev).toBe(c3);
    await w.close();
  });

  it("refuses a fleet.yaml whose policy.branch is not the branch the agent follows, keeping its generation", async () => {
    const w = await World.create();
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    expect((await w.once()).code).toBe(0);
    const gen1 = await w.activeGeneration();
    await w.commit({ "fleet.yaml": w.fleet({ policy: { branch: "production" } }) }, "c2 says production");
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/InvalidFleetFile: .*policy\.branch  policy\.branch is "production" but this revision was read from branch "main"/s);
    expect(await w.activeGeneration()).toBe(gen1);
    expect((await w.state()).current?.rev).toBe(c1);
    await w.close();
  });

  it("refuses a force-pushed branch unless the fleet allows rewrites or the operator accepts it on the host", async () => {
    const w = await World.create();
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    const c2 = await w.commit({ "notes.txt": "2" }, "c2");
    expect((await w.once()).code).toBe(0);
    const gen2 = await w.activeGeneration();
    const rewritten = await w.repo.forcePush({ "notes.txt": "rewritten" }, "rewrite", { onto: c1 });
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/NonFastForward: branch moved from [0-9a-f]{12} to [0-9a-f]{12} by a non-fast-forward/);
    expect(await w.activeGeneration()).toBe(gen2);
    expect((await w.state()).current?.rev).toBe(c2);
    // The rewritten head was neither built nor activated.
    expect((await w.calls()).filter((c) => c.revision === rewritten)).toEqual([]);
    // Reported once, not on every poll.
    const again = await w.once();
    expect(again.code).toBe(1);
    expect(again.err).not.toMatch(/refusing the new head/);
    // An operator who vouches for the rewrite on this host: `retry --accept-rewrite`.
    const retry = await w.cli("retry", "--accept-rewrite");
    expect(retry.code).toBe(0);
    expect(retry.out).toMatch(/accepting a rewritten branch history/);
    expect((await w.once()).code).toBe(0);
    expect((await w.state()).current?.rev).toBe(rewritten);
    expect((await w.state()).trustedHead).toBe(rewritten);

    // A fleet that allows rewrites (judged by the *trusted* fleet) deploys them.
    const w2 = await World.create();
    const d1 = await w2.commit({ "fleet.yaml": w2.fleet({ policy: { allowRewrites: true } }) }, "d1");
    await w2.commit({ "notes.txt": "2" }, "d2");
    expect((await w2.once()).code).toBe(0);
    const d3 = await w2.repo.forcePush({ "notes.txt": "rewritten" }, "rewrite", { onto: d1 });
    expect((await w2.once()).code).toBe(0);
    expect((await w2.state()).current?.rev).toBe(d3);
    await w.close();
    await w2.close();
  });

  it("keeps the current generation and reports a clear error when fleet.yaml at the new head is invalid", async () => {
    const w = await World.create();
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    expect((await w.once()).code).toBe(0);
    const gen1 = await w.activeGeneration();
    await w.commit({ "fleet.yaml": "version: 1\nhosts:\n  - name: canary-1\n    kind: nixos\n    hostKey: not-a-key\n" }, "broken fleet");
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/InvalidFleetFile: fleet\.yaml at [0-9a-f]{12} is invalid; keeping the current generation:\s+fleet\.yaml@[0-9a-f]{12}:\d+:\d+ +hosts\[0\]\.hostKey/);
    expect(await w.activeGeneration()).toBe(gen1);
    expect((await w.state()).current?.rev).toBe(c1);
    const fixed = await w.commit({ "fleet.yaml": w.fleet() }, "fix fleet");
    expect((await w.once()).code).toBe(0);
    expect((await w.state()).current?.rev).toBe(fixed);
    await w.close();
  });

  it("makes later waves wait without a controller, and deploys when the controller opens the gate", async () => {
    const w = await World.create({ host: "web-1" });
    const waves = [
      { name: "canaries", members: ["canary-1"] },
      { name: "web", members: ["web-*"] },
    ];
    const fleet = () => w.fleet({ hosts: [{ name: "canary-1" }, { name: "web-1" }], waves });
    const c1 = await w.commit({ "fleet.yaml": fleet() }, "c1");
    const r = await w.once();
    expect(r.code).toBe(3);
    expect(r.err).toMatch(/waiting: ControllerUnreachable: wave "web" is gated and the controller did not answer; waiting \(safe default\)/);
    expect(await w.activeGeneration()).toBeNull();

    let decision: GateAnswer["decision"] = "wait";
    const ctl = await startTestController({
      hostKeys: { "web-1": w.hostKey.pub },
      gate: (q) => ({ host: q.host, rev: q.rev, decision, wave: "web", reason: decision === "open" ? "canaries soaked" : "canaries soaking" }),
    });
    await w.writeConfig({ controller: ctl.url });
    const r2 = await w.once();
    expect(r2.code).toBe(3);
    expect(r2.err).toMatch(/GateWaiting: wave "web" wait: canaries soaking/);
    // Asking again with nothing new leaves the state file alone (no rewrite per poll).
    const written = await stat(join(w.stateDir, "state.json"));
    expect((await w.once()).code).toBe(3);
    const again = await stat(join(w.stateDir, "state.json"));
    expect([again.ino, again.mtimeMs]).toEqual([written.ino, written.mtimeMs]);
    decision = "open";
    const r3 = await w.once();
    expect(r3.code, r3.err).toBe(0);
    expect((await w.state()).current?.rev).toBe(c1);
    expect(ctl.gateQueries.map((q) => q.rev)).toEqual([c1, c1, c1]);
    expect(ctl.events().map((e) => `${e.phase}/${e.outcome}`)).toContain("idle/waiting");
    await ctl.close();
    await w.close();
  });
});
