import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resolveConfig } from "./config.js";

const dir = mkdtempSync(join(tmpdir(), "flotilla-config-test-"));
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "builder")]);
execFileSync("ssh-keygen", ["-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", join(dir, "rsa")]);
writeFileSync(join(dir, "cache.sec"), "cache-1:" + Buffer.alloc(64, 1).toString("base64") + "\n");
const raw = (builder: Record<string, unknown>) => ({ fleet: { remotes: ["https://git.example.org/fleet.git"] }, builder: { caches: ["file:///srv/cache"], signingKey: "cache.sec", builderKey: "builder", ...builder } });

describe("controller.yaml builder", () => {
  it("resolves key files against the config's directory and fills defaults", async () => {
    const c = await resolveConfig(raw({}), { baseDir: dir, env: {} });
    expect(c.builder).toMatchObject({ caches: ["file:///srv/cache"], signingKeyFile: join(dir, "cache.sec"), builderKeyFile: join(dir, "builder"), remote: "https://git.example.org/fleet.git", timeoutMs: 7_200_000 });
    expect(c.builder!.name).toMatch(/^controller@/);
    expect((await resolveConfig({ fleet: raw({}).fleet }, { baseDir: dir, env: {} })).builder).toBeNull();
  });

  it("refuses to start with a key it cannot read or use, naming the field", async () => {
    await expect(resolveConfig(raw({ builderKey: "nope" }), { baseDir: dir, env: {} })).rejects.toThrow(/builder\.builderKey: cannot read nope: ENOENT/);
    await expect(resolveConfig(raw({ builderKey: "rsa" }), { baseDir: dir, env: {} })).rejects.toThrow(/builder\.builderKey: .*ed25519/);
    await expect(resolveConfig(raw({ signingKey: "builder.pub" }), { baseDir: dir, env: {} })).rejects.toThrow(/builder\.signingKey: builder\.pub is not a Nix secret key/);
    await expect(resolveConfig(raw({ caches: [] }), { baseDir: dir, env: {} })).rejects.toThrow(/builder\.caches/);
  });
});
