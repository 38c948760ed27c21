import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadHostSigner, verifyEnvelope } from "./signing.js";

function keygen(): { path: string; pub: string } {
  const dir = mkdtempSync(join(tmpdir(), "flotilla-sign-"));
  const path = join(dir, "ssh_host_ed25519_key");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path]);
  return { path, pub: readFileSync(`${path}.pub`, "utf8").trim() };
}

describe("host key signatures", () => {
  it("signs with a real ssh-keygen key and verifies against its public line", async () => {
    const k = keygen();
    const signer = await loadHostSigner("web-1", k.path);
    expect(signer.publicKeyLine).toBe(k.pub.split(" ").slice(0, 2).join(" "));
    const env = signer.sign('{"type":"heartbeat"}');
    expect(verifyEnvelope(env, k.pub)).toBe(true);
  });

  it("rejects a tampered payload and another host's key", async () => {
    const a = keygen();
    const b = keygen();
    const env = (await loadHostSigner("a", a.path)).sign('{"n":1}');
    expect(verifyEnvelope({ ...env, payload: '{"n":2}' }, a.pub)).toBe(false);
    expect(verifyEnvelope(env, b.pub)).toBe(false);
  });

  it("names the file when the key is missing", async () => {
    await expect(loadHostSigner("a", "/nonexistent/key")).rejects.toThrow(/cannot read host key \/nonexistent\/key: ENOENT/);
  });
});
