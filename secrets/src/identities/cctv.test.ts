/**
 * All 143 C2SP CCTV age vectors through our age entry point (ageDecrypt →
 * age-encryption): each behaves as its `expect:` header says.
 */
import { describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { inflateSync } from "node:zlib";
import { ageDecrypt } from "../sops/data-key.js";
import { vector } from "../testing/interop.js";

const dir = vector("cctv-age");
const files = readdirSync(dir).sort();

function parse(name: string) {
  const raw = readFileSync(`${dir}/${name}`);
  const split = raw.indexOf("\n\n");
  const header = raw.subarray(0, split).toString("utf8");
  let body: Buffer = raw.subarray(split + 2);
  const h: Record<string, string[]> = {};
  for (const line of header.split("\n")) {
    const i = line.indexOf(": ");
    (h[line.slice(0, i)] ??= []).push(line.slice(i + 2));
  }
  if (h["compressed"]?.[0] === "zlib") body = inflateSync(body);
  return { h, body };
}

describe("CCTV age vectors", () => {
  it("there are 143", () => expect(files.length).toBe(143));
  for (const name of files) {
    it(name, async () => {
      const { h, body } = parse(name);
      const expectValue = h["expect"]![0]!;
      const keys = { identities: h["identity"] ?? [], passphrases: h["passphrase"] ?? [] };
      const run = async () => ageDecrypt(h["armored"]?.[0] === "yes" ? body.toString("latin1") : body, keys);
      if (expectValue === "success") {
        const out = await run();
        expect(createHash("sha256").update(out).digest("hex")).toBe(h["payload"]![0]);
      } else {
        await expect(run()).rejects.toThrow(expectValue === "no match" ? /no identity matched/ : /./);
      }
    });
  }
});
