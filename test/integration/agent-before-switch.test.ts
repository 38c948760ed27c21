// Issue 9 §4, with the real agent CLI, real git, real nix profiles, the real
// secrets installer and the offline test fleet: a deploy that fails before
// anything was switched ends in `failed` with its reason (never a rollback,
// never "ROLLBACK FAILED", the running system untouched); a first deploy that
// fails after switching gets its own stalled state that `retry` or a fixed
// commit gets out of, without deleting state.json.
import { writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encryptSopsFile, hostRecipient } from "../../secrets/src/index.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { World } from "./agent/helpers.js";

afterAll(async () => {
  await cleanupTempDirs();
});

/** A SOPS file whose only recipient is `pub` (another host's key: not decryptable here). */
async function sopsFor(pub: string, value: string): Promise<string> {
  return Buffer.from(await encryptSopsFile(Buffer.from(`db:\n  password: ${value}\n`), { format: "yaml", recipients: [hostRecipient(pub)], file: "secrets/db.yaml" })).toString();
}

const SECRETS = (host: string) => [{ name: "db-password", sopsFile: "secrets/db.yaml", key: "db/password", hosts: [host], owner: "root", group: "root" }];

describe("a failure before anything was switched", () => {
  it("a secret not encrypted to this host: failed/SecretsFailed, the running generation's switch never re-runs", async () => {
    const w = await World.create();
    try {
      const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
      expect((await w.once()).code).toBe(0);
      const running = await w.activeGeneration();
      const calls = (await w.calls()).length;
      const c2 = await w.commit({ "fleet.yaml": w.fleet({ secrets: SECRETS(w.host) }), "secrets/db.yaml": await sopsFor(w.otherKey.pub, "v-other-host") }, "c2: a secret for another key");
      const r = await w.once();
      expect(r.code, r.err).toBe(1);
      expect(r.err).toMatch(/SecretsFailed/);
      expect(r.err).not.toMatch(/ROLLBACK FAILED|rollback/i);
      const s = await w.state();
      expect(s.cycle).toMatchObject({ phase: "failed", target: { rev: c2 }, error: { reason: "SecretsFailed" } });
      expect(s.current?.rev).toBe(c1);
      expect(s.failedRevs.map((f) => f.rev)).toEqual([c2]);
      expect(await w.activeGeneration()).toBe(running);
      expect((await w.calls()).slice(calls)).toEqual([]); // no switch-to-configuration at all
    } finally {
      await w.close();
    }
  }, 300_000);

  it("on a first deploy (no previous generation): a refused secret and a failed pre-deploy hook end in failed, not rollbackFailed", async () => {
    const w = await World.create();
    try {
      const c1 = await w.commit({ "fleet.yaml": w.fleet({ secrets: SECRETS(w.host) }), "secrets/db.yaml": await sopsFor(w.otherKey.pub, "v") }, "c1");
      const r1 = await w.once();
      expect(r1.code, r1.err).toBe(1);
      expect(r1.err).not.toMatch(/ROLLBACK FAILED/);
      expect((await w.state()).cycle).toMatchObject({ phase: "failed", target: { rev: c1 }, error: { reason: "SecretsFailed" } });
      expect(await w.activeGeneration()).toBeNull();
      const c2 = await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: w.host, hooks: { preDeploy: { command: ["false"] } } }] }), "secrets/db.yaml": null }, "c2: a failing pre-deploy hook");
      const r2 = await w.once();
      expect(r2.code, r2.err).toBe(1);
      expect(r2.err).not.toMatch(/ROLLBACK FAILED/);
      expect((await w.state()).cycle).toMatchObject({ phase: "failed", target: { rev: c2 }, error: { reason: "PreDeployHookFailed" } });
      expect(await w.activeGeneration()).toBeNull();
      expect(await w.calls()).toEqual([]);
    } finally {
      await w.close();
    }
  }, 300_000);

  it("creates the profile's parent directory; a profile that cannot be set is a failure before the switch", async () => {
    const w = await World.create();
    try {
      const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
      // A profile in a directory that does not exist yet: the agent creates it.
      w.profile = join(w.root, "fresh", "profiles", "system");
      await w.writeConfig({ profile: w.profile });
      const r1 = await w.once();
      expect(r1.code, r1.err).toBe(0);
      expect(await w.activeGeneration()).toBe(await w.build(c1));
      // A profile whose directory cannot exist (its parent is a file).
      const w2 = await World.create();
      try {
        await w2.commit({ "fleet.yaml": w2.fleet() }, "c1");
        writeFileSync(join(w2.root, "not-a-dir"), "");
        await w2.writeConfig({ profile: join(w2.root, "not-a-dir", "system") });
        const r2 = await w2.once();
        expect(r2.code, r2.err).toBe(1);
        expect(r2.err).not.toMatch(/ROLLBACK FAILED/);
        expect((await w2.state()).cycle).toMatchObject({ phase: "failed", error: { reason: "ActivationFailed" } });
        expect(await w2.calls()).toEqual([]);
      } finally {
        await w2.close();
      }
    } finally {
      await w.close();
    }
  }, 300_000);
});

describe("a first deploy that fails after switching", () => {
  it("stalls in firstDeployFailed (exit 4, no ROLLBACK FAILED); a fixed newer commit gets out", async () => {
    const w = await World.create();
    try {
      const c1 = await w.commit({ "fleet.yaml": w.fleet(), "markers/canary-1/unhealthy": "" }, "c1: unhealthy");
      const r1 = await w.once();
      expect(r1.code, r1.err).toBe(4);
      expect(r1.err).toMatch(/NoPreviousGeneration/);
      expect(r1.err).not.toMatch(/ROLLBACK FAILED/);
      const g1 = await w.build(c1);
      expect(await w.state()).toMatchObject({ cycle: { phase: "firstDeployFailed", generation: g1, error: { reason: "HealthCheckFailed" } }, current: null });
      expect(await w.activeGeneration()).toBe(g1);
      expect((await w.once()).code).toBe(4); // stays stalled on the same head
      const status = await w.cli("status", "--json");
      expect(JSON.parse(status.out)).toMatchObject({ phase: "firstDeployFailed" });
      const c2 = await w.commit({ "markers/canary-1/unhealthy": null }, "c2: fixed");
      const r2 = await w.once();
      expect(r2.code, r2.err).toBe(0);
      expect(await w.state()).toMatchObject({ cycle: { phase: "done" }, current: { rev: c2, generation: await w.build(c2) } });
    } finally {
      await w.close();
    }
  }, 300_000);

  it("`flotilla-agent retry` deploys the same revision again once the host is fixed; a second failure stays firstDeployFailed", async () => {
    const w = await World.create();
    try {
      const ok = join(w.root, "app-ok");
      const checks = [{ type: "command", name: "app", command: ["test", "-e", ok], interval: "100ms", timeout: "1s", deadline: "1s" }];
      const c1 = await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: w.host, checks }] }) }, "c1");
      expect((await w.once()).code).toBe(4);
      // retry while still broken: deployed again, fails again, same clear state (not rollbackFailed)
      expect((await w.cli("retry")).code).toBe(0);
      const again = await w.once();
      expect(again.code, again.err).toBe(4);
      expect((await w.state()).cycle.phase).toBe("firstDeployFailed");
      await mkdir(w.root, { recursive: true });
      await writeFile(ok, "");
      expect((await w.cli("retry", c1)).code).toBe(0);
      const r = await w.once();
      expect(r.code, r.err).toBe(0);
      expect(await w.state()).toMatchObject({ cycle: { phase: "done" }, current: { rev: c1 }, failedRevs: [] });
    } finally {
      await w.close();
    }
  }, 300_000);
});
