// flotilla-agent on NixOS hosts, end to end on real git and real nix: the
// offline test fleet builds real toplevels, a real nix profile in a temp dir
// keeps real generations, switch-to-configuration stand-ins record what they
// were asked to do. Every `once` goes through the CLI (main()).
import { afterAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { listGenerations } from "../helpers/nix-env.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { startTestController } from "./agent/controller.js";
import { World } from "./agent/helpers.js";

afterAll(async () => {
  await cleanupTempDirs();
});

/** A world whose host is already on a first verified commit (a "running NixOS"). */
async function deployedWorld(opts: ConstructorParameters<typeof World>[0] = {}, fleet?: (w: World) => string) {
  const w = await World.create(opts);
  const c1 = await w.commit({ "fleet.yaml": fleet ? fleet(w) : w.fleet() }, "c1");
  const r = await w.once();
  expect(r.code, r.err).toBe(0);
  const gen1 = await w.activeGeneration();
  expect(gen1).toBe(await w.build(c1));
  return { w, c1, gen1: gen1! };
}

describe("agent on NixOS (direct activation)", () => {
  it("deploys a new commit: profile moves to the new generation, switch recorded, reported healthy", async () => {
    const { w, c1, gen1 } = await deployedWorld();
    const c2 = await w.commit({ "notes.txt": "two\n" }, "c2");
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("healthy on");
    const gen2 = await w.activeGeneration();
    expect(gen2).not.toBe(gen1);
    expect(gen2).toBe(await w.build(c2));
    const calls = (await w.calls()).filter((c) => c.operation === "switch");
    expect(calls.map((c) => [c.revision, c.status])).toEqual([
      [c1, "ok"],
      [c2, "ok"],
    ]);
    const s = await w.state();
    expect(s.cycle.phase).toBe("done");
    expect(s.current).toEqual({ rev: c2, generation: gen2 });
    expect((await w.hostState()).currentRevision).toBe(c2);
    // The no-change poll does nothing.
    const again = await w.once();
    expect(again.code).toBe(0);
    expect((await w.calls()).filter((c) => c.operation === "switch")).toHaveLength(2);
    // Logs: each external command with duration and exit code, a component field.
    expect(again.err + r.err).toMatch(/ flotilla-agent\.cmd: ran cmd=.*switch-to-configuration switch" ms=\d+ exit=0/);
    // Old generations beyond agent.keepGenerations (3) are removed from the profile.
    for (const n of ["3", "4", "5"]) {
      await w.commit({ "notes.txt": n }, `c${n}`);
      expect((await w.once()).code).toBe(0);
    }
    const gens = await listGenerations(w.profile);
    expect(gens.map((g) => g.id)).toEqual([3, 4, 5]);
    expect(gens.at(-1)?.current).toBe(true);
    await w.close();
  });

  it("keeps a pinned host on its pin when the branch moves", async () => {
    const w = await World.create();
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    expect((await w.once()).code).toBe(0);
    await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: w.host, pin: c1 }] }) }, "pin canary-1");
    await w.commit({ "notes.txt": "three\n" }, "c3");
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect(await w.activeGeneration()).toBe(await w.build(c1));
    expect((await w.calls()).filter((c) => c.operation === "switch")).toHaveLength(1);
    expect((await w.state()).current?.rev).toBe(c1);
    await w.close();
  });

  it("leaves the host untouched when the build fails, and reports it", async () => {
    const { w, c1, gen1 } = await deployedWorld();
    const bad = await w.commit({ "markers/canary-1/fail-build": "" }, "break the build");
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/failed: BuildFailed: [\s\S]*fail-build present/);
    expect(r.err).toMatch(/not retried until a newer commit/);
    expect(await w.activeGeneration()).toBe(gen1);
    expect((await w.calls()).filter((c) => c.operation === "switch")).toHaveLength(1);
    const s = await w.state();
    expect(s.cycle.phase).toBe("failed");
    expect(s.current?.rev).toBe(c1);
    expect(s.failedRevs.map((f) => f.rev)).toEqual([bad]);
    await w.close();
  });

  it("rolls back to the recorded previous path when the switch fails", async () => {
    const { w, c1, gen1 } = await deployedWorld();
    const bad = await w.commit({ "markers/canary-1/fail-switch": "" }, "break activation");
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ActivationFailed/);
    expect(await w.activeGeneration()).toBe(gen1);
    const switches = (await w.calls()).filter((c) => c.operation === "switch");
    expect(switches.map((c) => [c.revision, c.status])).toEqual([
      [c1, "ok"],
      [bad, "failed"],
      [c1, "ok"], // the rollback re-ran the previous generation's own switch-to-configuration
    ]);
    expect(switches[2]!.outPath).toBe(gen1);
    const s = await w.state();
    expect(s.cycle.phase).toBe("rolledBack");
    expect(s.current).toEqual({ rev: c1, generation: gen1 });
    await w.close();
  });

  it("rolls back when a health check fails, remembers the revision, and deploys a newer commit", async () => {
    const { w, c1, gen1 } = await deployedWorld();
    const bad = await w.commit({ "markers/canary-1/unhealthy": "" }, "canary goes bad");
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/HealthCheckFailed/);
    expect(await w.activeGeneration()).toBe(gen1);
    expect((await w.hostState()).health).toBe("ok");
    let s = await w.state();
    expect(s.cycle.phase).toBe("rolledBack");
    expect(s.failedRevs.map((f) => [f.rev, f.reason])).toEqual([[bad, "HealthCheckFailed"]]);
    if (s.cycle.phase === "rolledBack") {
      // Results are tied to the generation they were measured on.
      const healthFile = s.cycle.health.find((h) => h.check === "health-file");
      expect(healthFile).toMatchObject({ ok: true, rev: c1, generation: gen1 });
    }

    // Not retried: the next poll skips it.
    const switchesBefore = (await w.calls()).filter((c) => c.operation === "switch").length;
    const again = await w.once();
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/HealthCheckFailed[\s\S]*not retried until a newer commit arrives/);
    expect((await w.calls()).filter((c) => c.operation === "switch")).toHaveLength(switchesBefore);

    // A newer commit deploys.
    const fixed = await w.commit({ "markers/canary-1/unhealthy": null }, "fix canary");
    const r3 = await w.once();
    expect(r3.code, r3.err).toBe(0);
    s = await w.state();
    expect(s.current?.rev).toBe(fixed);
    expect(await w.activeGeneration()).toBe(await w.build(fixed));
    // …by activating it (its switch ran and succeeded), not by recording it
    const switches = (await w.calls()).filter((c) => c.operation === "switch");
    expect(switches).toHaveLength(switchesBefore + 1);
    expect(switches.at(-1)).toMatchObject({ revision: fixed, status: "ok" });
    expect(s.failedRevs.map((f) => f.rev)).toEqual([bad]);
    await w.close();
  });

  it("rolls back when the host loses the network after activation: neither the git remote nor the controller answers (magic rollback)", async () => {
    let badRev = "";
    const w = await World.create();
    const broken = () => badRev !== "" && readCurrent(w) === badRev;
    const ctl2 = await startTestController({
      hostKeys: { [w.host]: w.hostKey.pub },
      // The "network" is broken while the bad revision is active.
      refuse: broken,
    });
    // The git remote is a local path; a git that cannot reach it while the bad revision runs
    // stands in for the lost route (the agent's commands.git; nix keeps the real git).
    const badFile = join(w.root, "bad-rev");
    const gitWrapper = join(w.root, "git-unreachable-when-bad");
    await writeFile(
      gitWrapper,
      `#!/bin/sh\nif [ "$1" = ls-remote ] && [ -s ${badFile} ] && [ "$(cat ${join(w.fixture.state, w.host, "current-revision")} 2>/dev/null)" = "$(cat ${badFile})" ]; then echo "fatal: unable to access remote: Network is unreachable" >&2; exit 128; fi\nexec git "$@"\n`,
    );
    await chmod(gitWrapper, 0o755);
    await w.writeConfig({ controller: ctl2.url, commands: { ...(w.config.commands as object), git: gitWrapper } });
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    expect((await w.once()).code).toBe(0);
    const gen1 = await w.activeGeneration();
    badRev = await w.commit({ "notes.txt": "this generation breaks the network\n" }, "bad network");
    await writeFile(badFile, badRev);
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/ConnectivityLost/);
    expect(await w.activeGeneration()).toBe(gen1);
    expect((await w.state()).current?.rev).toBe(c1);
    // Once the network is back the rollback's events arrive.
    await waitUntil(async () => ctl2.events().some((e) => e.phase === "rolledBack"));
    const rolled = ctl2.events().find((e) => e.phase === "rolledBack")!;
    expect(rolled.error?.reason).toBe("ConnectivityLost");
    expect(rolled.error?.message).toMatch(/git remote, controller/);
    expect(rolled.health?.find((h) => h.check === "connectivity")).toMatchObject({ ok: true, generation: gen1 });
    await ctl2.close();
    await w.close();
  });

  it("a controller outage during verification does not revert the deploy: the git remote still answers", async () => {
    let down = false;
    const w = await World.create();
    const ctl2 = await startTestController({ hostKeys: { [w.host]: w.hostKey.pub }, refuse: () => down });
    await w.writeConfig({ controller: ctl2.url });
    await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    expect((await w.once()).code).toBe(0);
    // The controller answers before the switch (so it is in Reach), then goes down as the switch happens.
    const c2 = await w.commit({ "notes.txt": "an ordinary change\n" }, "c2");
    let target = "";
    const watcher = setInterval(() => {
      if (readCurrent(w) === c2) down = true;
    }, 5);
    try {
      const r = await w.once();
      target = (await w.state()).current?.rev ?? "";
      expect(r.code, r.err).toBe(0);
    } finally {
      clearInterval(watcher);
    }
    expect(down).toBe(true);
    expect(target).toBe(c2);
    const s = await w.state();
    expect(s.cycle).toMatchObject({ phase: "done" });
    expect(s.cycle.phase === "done" && s.cycle.health.find((h) => h.check === "connectivity")).toMatchObject({ ok: true, detail: expect.stringMatching(/reached git remote \(controller did not answer/) });
    await ctl2.close();
    await w.close();
  });

  it("aborts the deploy when the pre-deploy hook fails, and runs hooks around a good deploy", async () => {
    const w = await World.create();
    const hooks = { preDeploy: { command: ["nix", "run", ".#dump-db"], timeout: "2m" }, postDeploy: { command: ["sh", "-c", "echo \"$FLOTILLA_REV\" >> \"$1\"", "post", join(w.root, "post.log")] } };
    await w.commit({ "fleet.yaml": w.fleet({ hooks }) }, "c1");
    const r1 = await w.once();
    expect(r1.code, r1.err).toBe(0);
    const gen1 = await w.activeGeneration();
    expect((await w.calls()).map((c) => c.operation)).toEqual(["dump-db", "switch"]);
    const bad = await w.commit({ "markers/canary-1/fail-dump-db": "", "notes.txt": "x" }, "backup breaks");
    const r = await w.once();
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/PreDeployHookFailed/);
    expect(await w.activeGeneration()).toBe(gen1);
    expect((await w.calls()).map((c) => `${c.operation}:${c.status}`)).toEqual(["dump-db:ok", "switch:ok", "dump-db:failed"]);
    expect((await w.state()).failedRevs.map((f) => f.rev)).toEqual([bad]);
    expect((await readFile(join(w.root, "post.log"), "utf8")).trim().split("\n")).toHaveLength(1);
    await w.close();
  });
});

describe("agent on NixOS (nixos-rebuild activation)", () => {
  it("deploys with nixos-rebuild switch --flake and rolls back a failed switch to the recorded path", async () => {
    const { w } = await deployedWorld({ activation: "nixos-rebuild" });
    const c2 = await w.commit({ "notes.txt": "2" }, "c2");
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/ran cmd=".*nixos-rebuild switch --flake git\+file:\/\/.*\/cache\.git\?rev=[0-9a-f]{40}&ref=refs\/flotilla\/keep\/[0-9a-f]{40}#canary-1"/);
    const gen2 = await w.activeGeneration();
    expect(gen2).toBe(await w.build(c2));
    const bad = await w.commit({ "markers/canary-1/fail-switch": "" }, "bad");
    const r2 = await w.once();
    expect(r2.code).toBe(1);
    expect(await w.activeGeneration()).toBe(gen2);
    // The rollback re-activated the recorded path of c2 after the failed switch of the bad commit.
    const calls = (await w.calls()).map((c) => ({ operation: c.operation, revision: c.revision, outPath: c.outPath, status: c.status }));
    const failedAt = calls.findIndex((c) => c.operation === "switch" && c.revision === bad);
    expect(calls[failedAt]).toMatchObject({ status: "failed" });
    expect(calls.slice(failedAt + 1)).toEqual([{ operation: "switch", revision: c2, outPath: gen2, status: "ok" }]);
    expect((await w.state()).failedRevs.map((f) => f.rev)).toEqual([bad]);
    await w.close();
  });
});

function readCurrent(w: World): string | null {
  try {
    return readFileSync(join(w.fixture.state, w.host, "current-revision"), "utf8").trim();
  } catch {
    return null;
  }
}

async function waitUntil(f: () => Promise<boolean>, ms = 20_000) {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}
