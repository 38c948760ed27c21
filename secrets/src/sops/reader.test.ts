import { describe, expect, it } from "vitest";
import { decryptSopsFile } from "./reader.js";
import { toPlain } from "./tree.js";
import { loadIdentityFile } from "../identities/age-keys.js";
import { manifest, readVector, vector } from "../testing/interop.js";
import { loadSops } from "./load.js";

const m = manifest();
const decryptable = m.sops.filter((s) => s.expected !== null);
const parseOnly = m.sops.filter((s) => s.expected === null);

describe("interop vectors: every decryptable sops file", () => {
  it("has the 12 vectors the README promises", () => {
    expect(decryptable.length).toBe(12);
  });

  for (const v of decryptable) {
    for (const id of v.identities) {
      it(`${v.file} with ${id.file} (${v.format})`, async () => {
        const identities = await loadIdentityFile(vector(id.file));
        const out = await decryptSopsFile(readVector(v.file), { format: v.format, identities, file: v.file });
        if (out.format === "binary") {
          expect(Buffer.from(out.data).equals(readVector(v.expected!))).toBe(true);
        } else {
          const expected = JSON.parse(readVector(v.expected!).toString("utf8"));
          const got = out.documents.map(toPlain);
          expect(got.length === 1 ? got[0] : got).toEqual(expected);
        }
      });
    }
  }
});

describe("interop vectors: parse-only files", () => {
  for (const v of parseOnly) {
    it(`${v.file} parses and names its recipients`, async () => {
      const loaded = loadSops(readVector(v.file), v.format, v.file);
      expect(loaded.metadata.otherKeyTypes).toContain("pgp");
      expect(loaded.metadata.age).toEqual([]);
      await expect(decryptSopsFile(readVector(v.file), { format: v.format, identities: await loadIdentityFile(vector("sops-nix/age-keys.txt")), file: v.file })).rejects.toThrow(
        /no age recipient in the file matches/,
      );
    });
  }
});
