import { describe, expect, it } from "vitest";
import { sign } from "node:crypto";
import { SIGNATURE_DOMAIN } from "../../../schemas/src/api.js";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ReleaseManifest } from "../../../schemas/src/release.js";
import { ed25519FromOpenSsh } from "../signing.js";
import { checkRelease, keyId, signRelease } from "./manifest.js";

function sshKey(name: string) {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-release-test-"));
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", join(dir, "k")]);
  return { signer: ed25519FromOpenSsh(readFileSync(join(dir, "k"))), pub: readFileSync(join(dir, "k.pub"), "utf8").trim() };
}

const builder = sshKey("ci");
const other = sshKey("other");
const REV = "a".repeat(40);
const OUT = "/nix/store/" + "b".repeat(32) + "-nixos-system-web-1";

function manifest(over: Partial<ReleaseManifest> = {}): ReleaseManifest {
  return {
    type: "flotilla-release",
    version: 1,
    rev: REV,
    builder: { name: "ci", key: builder.signer.publicKeyLine },
    builtAt: "2026-12-02T04:00:00.000Z",
    caches: ["file:///srv/cache"],
    hosts: { "web-1": { kind: "nixos", outPath: OUT, generation: OUT, attribute: "nixosConfigurations.web-1.config.system.build.toplevel", closureSize: 123 } },
    ...over,
  };
}

const builders = [{ name: "ci", key: builder.pub }];
const text = (m = manifest(), s = builder.signer) => JSON.stringify(signRelease(m, s));

describe("release manifests", () => {
  it("accepts a manifest signed by a listed builder, for the target revision and host (key comments ignored)", () => {
    const r = checkRelease(text(), { builders, rev: REV, host: "web-1" });
    expect(r).toMatchObject({ ok: true, builder: "ci", entry: { outPath: OUT } });
    expect(keyId(builder.pub)).toBe(builder.signer.publicKeyLine);
  });

  it("refuses an unknown signer, a bad signature, a tampered payload, and garbage as untrusted", () => {
    expect(checkRelease(text(manifest({ builder: { name: "x", key: other.signer.publicKeyLine } }), other.signer), { builders, rev: REV, host: "web-1" })).toMatchObject({
      ok: false,
      problem: "untrusted",
      message: expect.stringMatching(/not one of delivery\.builders \(ci\)/),
    });
    const signed = JSON.parse(text()) as { payload: string; sig: string };
    const tampered = { ...signed, payload: signed.payload.replace("123", "124") };
    expect(checkRelease(JSON.stringify(tampered), { builders, rev: REV, host: "web-1" })).toMatchObject({ ok: false, problem: "untrusted", message: expect.stringMatching(/does not verify/) });
    const unsigned = { ...signed, sig: undefined };
    expect(checkRelease(JSON.stringify(unsigned), { builders, rev: REV, host: "web-1" })).toMatchObject({ ok: false, problem: "untrusted" });
    expect(checkRelease("not json", { builders, rev: REV, host: "web-1" })).toMatchObject({ ok: false, problem: "untrusted" });
    // Signed by the builder, but the payload claims another builder key.
    expect(checkRelease(text(manifest({ builder: { name: "ci", key: other.signer.publicKeyLine } })), { builders, rev: REV, host: "web-1" })).toMatchObject({ ok: false, problem: "untrusted" });
    // A host report signature (other domain) is never a release signature.
    const payload = JSON.stringify(manifest());
    const asReport = { v: 1, alg: "ssh-ed25519", key: builder.pub, payload, sig: sign(null, Buffer.from(SIGNATURE_DOMAIN + payload), builder.signer.privateKey).toString("base64") };
    expect(checkRelease(JSON.stringify(asReport), { builders, rev: REV, host: "web-1" })).toMatchObject({ ok: false, problem: "untrusted", message: expect.stringMatching(/does not verify/) });
  });

  it("refuses a manifest of another revision, or one that does not name the host, as a mismatch", () => {
    expect(checkRelease(text(), { builders, rev: "c".repeat(40), host: "web-1" })).toMatchObject({ ok: false, problem: "mismatch", message: expect.stringMatching(/is for revision aaaaaaaaaaaa, not cccccccccccc/) });
    expect(checkRelease(text(), { builders, rev: REV, host: "db-1" })).toMatchObject({ ok: false, problem: "mismatch", message: expect.stringMatching(/does not name host "db-1"/) });
  });
});
