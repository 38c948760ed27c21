// Secrets through the real installer (secrets/src/install): a SOPS file in
// the fleet repo, encrypted to the host's ssh key, is installed before the
// switch and switched back on rollback; the value never reaches logs, state
// or reports.
import { readFile } from "node:fs/promises";
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
});
