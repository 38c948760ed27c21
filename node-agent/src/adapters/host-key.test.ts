import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyEnvelope } from "../../../common/src/signing.js";
import { HostKeyFile } from "./host-key.js";

describe("HostKeyFile", () => {
  it("signs with the key read at start until reload() finds another key on disk; an unreadable file keeps the key in use", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-hostkey-"));
    for (const n of ["a", "b"]) execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, n)]);
    const pub = (n: string) => readFileSync(join(dir, `${n}.pub`), "utf8").trim();
    const path = join(dir, "host_key");
    copyFileSync(join(dir, "a"), path);
    const key = await HostKeyFile.load("web-1", path);
    expect(await key.reload()).toBe(false);
    copyFileSync(join(dir, "b"), path);
    expect(verifyEnvelope(key.sign("{}"), pub("a"))).toBe(true); // not re-read by itself
    expect(await key.reload()).toBe(true);
    expect(verifyEnvelope(key.sign("{}"), pub("b"))).toBe(true);
    writeFileSync(path, "garbage");
    await expect(key.reload()).rejects.toThrow(/cannot parse/);
    expect(verifyEnvelope(key.sign("{}"), pub("b"))).toBe(true);
  });
});
