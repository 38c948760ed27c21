// Secrets through the real installer (secrets/src/install): a SOPS file in
// the fleet repo, encrypted to the host's ssh key, is installed before the
// switch and switched back on rollback; the value never reaches logs, state
// or reports.
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encryptSopsFile, hostRecipient } from "../../secrets/src/index.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { World } from "./agent/helpers.js";

afterAll(async () => {
  await cleanupTempDirs();
});

describe("agent secrets", () => {
  it("installs the host's secrets before activation and switches them back on rollback", async () => {
    const w = await World.create();
    const enc = async (value: string) =>
      Buffer.from(await encryptSopsFile(Buffer.from(`db:\n  password: ${value}\n`), { format: "yaml", recipients: [hostRecipient(w.hostKey.pub)], file: "secrets/db.yaml" })).toString();
    const secrets = [{ name: "db-password", sopsFile: "secrets/db.yaml", key: "db/password", hosts: [w.host], owner: "root", group: "root" }];
    const v1 = "first-secret-value-1234";
    const v2 = "second-secret-value-5678";
    await w.commit({ "fleet.yaml": w.fleet({ secrets }), "secrets/db.yaml": await enc(v1) }, "c1");
    const r1 = await w.once();
    expect(r1.code, r1.err).toBe(0);
    const installed = join(w.root, "secrets", "current", "db-password");
    expect(await readFile(installed, "utf8")).toBe(v1);

    await w.commit({ "secrets/db.yaml": await enc(v2), "markers/canary-1/fail-switch": "" }, "new secret, broken switch");
    const r2 = await w.once();
    expect(r2.code).toBe(1);
    expect(await readFile(installed, "utf8")).toBe(v1);

    for (const text of [r1.err, r2.err, JSON.stringify(await w.state())]) {
      expect(text).not.toContain(v1);
      expect(text).not.toContain(v2);
    }
    await w.close();
  });

  it("a pinned host installs the secrets its pinned revision declares, not the head's", async () => {
    const w = await World.create();
    const enc = async (text: string) => Buffer.from(await encryptSopsFile(Buffer.from(text), { format: "yaml", recipients: [hostRecipient(w.hostKey.pub)], file: "x.yaml" })).toString();
    const old = [{ name: "token", sopsFile: "secrets/old.yaml", key: "token", hosts: [w.host] }];
    const c1 = await w.commit({ "fleet.yaml": w.fleet({ secrets: old }), "secrets/old.yaml": await enc("token: pinned-value-1111\n") }, "c1");
    expect((await w.once()).code).toBe(0);
    await w.commit({ "notes.txt": "2" }, "c2");
    expect((await w.once()).code).toBe(0);
    // The head moves the secret to another file (the old one is gone) and pins this host to c1.
    const moved = [{ name: "token", sopsFile: "secrets/new.yaml", key: "token", hosts: [w.host] }];
    await w.commit({ "fleet.yaml": w.fleet({ secrets: moved, hosts: [{ name: w.host, pin: c1 }] }), "secrets/old.yaml": null, "secrets/new.yaml": await enc("token: head-value-2222\n") }, "move the secret, pin canary-1");
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    const s = await w.state();
    expect(s.current?.rev).toBe(c1);
    expect(s.failedRevs).toEqual([]);
    expect(await readFile(join(w.root, "secrets", "current", "token"), "utf8")).toBe("pinned-value-1111");
    await w.close();
  });

  it("refuses a secret path that would replace a link or file Flotilla did not create, and keeps the host as it was", async () => {
    const w = await World.create();
    const enc = async (text: string) => Buffer.from(await encryptSopsFile(Buffer.from(text), { format: "yaml", recipients: [hostRecipient(w.hostKey.pub)], file: "x.yaml" })).toString();
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    expect((await w.once()).code).toBe(0);
    // A usr-merged host: /bin is a link to usr/bin; and a plain file someone else owns.
    const fakeRoot = join(w.root, "host");
    await mkdir(join(fakeRoot, "usr", "bin"), { recursive: true });
    await symlink("usr/bin", join(fakeRoot, "bin"));
    await mkdir(join(fakeRoot, "etc"), { recursive: true });
    await writeFile(join(fakeRoot, "etc", "app.conf"), "not ours\n");
    for (const [target, kind] of [
      [join(fakeRoot, "bin"), "symlink"],
      [join(fakeRoot, "etc", "app.conf"), "file"],
    ] as const) {
      const secrets = [{ name: "token", sopsFile: "secrets/app.yaml", key: "token", hosts: [w.host], path: target }];
      const bad = await w.commit({ "fleet.yaml": w.fleet({ secrets }), "secrets/app.yaml": await enc("token: value-3333\n") }, `secret at ${target}`);
      const r = await w.once();
      expect(r.code).toBe(1);
      const s = await w.state();
      expect(s.current?.rev).toBe(c1);
      expect(s.failedRevs.map((f) => f.rev)).toContain(bad);
      expect(s.lastOutcome?.message ?? "").toContain(`secret "token": path ${target} is a ${kind}`);
      expect(s.lastOutcome?.message ?? "").toContain("that Flotilla did not create; refusing to replace it");
    }
    expect(await readlink(join(fakeRoot, "bin"))).toBe("usr/bin");
    expect(await readFile(join(fakeRoot, "etc", "app.conf"), "utf8")).toBe("not ours\n");
    // A path Flotilla created itself is updated from one deploy to the next.
    const own = join(fakeRoot, "etc", "app", "token");
    const secrets = [{ name: "token", sopsFile: "secrets/app.yaml", key: "token", hosts: [w.host], path: own }];
    await w.commit({ "fleet.yaml": w.fleet({ secrets }), "secrets/app.yaml": await enc("token: value-4444\n") }, "good path");
    expect((await w.once()).code).toBe(0);
    expect((await lstat(own)).isSymbolicLink()).toBe(true);
    await w.commit({ "secrets/app.yaml": await enc("token: value-5555\n") }, "new value");
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect(await readFile(own, "utf8")).toBe("value-5555");
    await w.close();
  });

  it("warns loudly at start and in self-test when the secrets root is not on tmpfs or is group/world-writable", async () => {
    const w = await World.create();
    await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    // /dev/shm is a tmpfs (what /run/flotilla/secrets.d is on a real host).
    const shm = await mkdtemp("/dev/shm/flotilla-secrets-it-");
    try {
      const onDisk = join(w.root, "secrets"); // the test's temp dir is on the build disk
      const onTmpfs = join(shm, "secrets.d");
      const cases = [
        { root: onDisk, warn: [`secrets root ${onDisk} is on `, "not on tmpfs"] },
        { root: onTmpfs, warn: [] },
        { root: onTmpfs, mode: 0o777, warn: [`secrets root ${onTmpfs} is world-writable (mode 0777)`] },
        { root: onTmpfs, mode: 0o770, warn: [`secrets root ${onTmpfs} is group-writable (mode 0770)`] },
      ];
      for (const c of cases) {
        await w.writeConfig({ secretsRoot: c.root });
        if (c.mode !== undefined) {
          await mkdir(c.root, { recursive: true });
          await chmod(c.root, c.mode);
        }
        const once = await w.once();
        expect(once.code, once.err).toBe(0);
        const st = await w.cli("self-test");
        const line = JSON.parse(st.out.trim()) as { ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string; warning?: boolean }> };
        const check = line.checks.find((x) => x.name === "secretsRoot");
        expect(check, st.out).toBeDefined();
        if (c.warn.length === 0) {
          expect(check!.warning ?? false).toBe(false);
          expect(once.err).not.toMatch(/SECRETS ROOT/);
        } else {
          expect(check!.warning).toBe(true);
          for (const part of c.warn) {
            expect(check!.detail).toContain(part);
            expect(once.err).toContain(part);
          }
          expect(once.err).toMatch(/warn flotilla-agent: SECRETS ROOT UNSAFE: /);
        }
      }
    } finally {
      await rm(shm, { recursive: true, force: true });
      await w.close();
    }
  });
});
