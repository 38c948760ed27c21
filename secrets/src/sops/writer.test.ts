import { describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { encryptSopsFile, updateKeys } from "./writer.js";
import { decryptSopsFile } from "./reader.js";
import { extract, renderDecrypted, renderValue } from "./extract.js";
import { loadSops } from "./load.js";
import { toPlain } from "./tree.js";
import { loadIdentityFile } from "../identities/age-keys.js";
import { loadHostIdentities } from "../identities/host.js";
import { readVector, vector } from "../testing/interop.js";
import { KeyPathNotFoundError, MacMismatchError, NoMatchingRecipientError } from "../errors.js";

const AGE_RECIPIENT = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw"; // sops-nix/age-keys.txt
const SSH_RECIPIENT = readVector("sops-nix/ssh-ed25519-key.pub").toString().trim().split(" ").slice(0, 2).join(" ");
const ageIds = () => loadIdentityFile(vector("sops-nix/age-keys.txt"));
const hostIds = () => loadHostIdentities(vector("synthetic/ssh-ed25519-key"));

const YAML = `# leading comment
db_password: hunter2
port: 5432
ratio: 0.75
enabled: true
"123": numeric-looking key
empty: ""
nothing: null
multiline: |
    line1
    line2
unicode: päss✓
nested:
    list:
        - a
        - [b, c]
count_unencrypted: 3
---
second: doc
`;

describe("encryptSopsFile → decryptSopsFile", () => {
  it("yaml, multi-document, typed values, native ssh-ed25519 and X25519 recipients", async () => {
    const enc = await encryptSopsFile(Buffer.from(YAML), { format: "yaml", recipients: [SSH_RECIPIENT, AGE_RECIPIENT] });
    const text = Buffer.from(enc).toString();
    expect(text).not.toContain("hunter2");
    expect(text).toContain("count_unencrypted: 3");
    expect(text).toContain("recipient: ssh-ed25519 AAAA");
    for (const ids of [await hostIds(), await ageIds()]) {
      const d = await decryptSopsFile(enc, { format: "yaml", identities: ids, file: "t.yaml" });
      expect(d.documents.map(toPlain)).toEqual([
        {
          db_password: "hunter2",
          port: 5432,
          ratio: 0.75,
          enabled: true,
          "123": "numeric-looking key",
          empty: "",
          nothing: null,
          multiline: "line1\nline2\n",
          unicode: "päss✓",
          nested: { list: ["a", ["b", "c"]] },
          count_unencrypted: 3,
        },
        { second: "doc" },
      ]);
    }
  });

  it("json keeps key order and int64 values beyond 2^53", async () => {
    const plain = '{"z": 9007199254740993, "a": {"k": [1, 2.5, false]}, "10": "ten", "big_unencrypted": 9007199254740995}';
    const enc = await encryptSopsFile(Buffer.from(plain), { format: "json", recipients: [AGE_RECIPIENT] });
    const d = await decryptSopsFile(enc, { format: "json", identities: await ageIds(), file: "t.json" });
    expect(Buffer.from(renderDecrypted(d)).toString()).toBe(
      '{\n\t"z": 9007199254740993,\n\t"a": {\n\t\t"k": [\n\t\t\t1,\n\t\t\t2.5,\n\t\t\tfalse\n\t\t]\n\t},\n\t"10": "ten",\n\t"big_unencrypted": 9007199254740995\n}\n',
    );
    expect(toPlain(extract(d, "z"))).toBe(9007199254740993n);
  });

  it("dotenv and binary (non-UTF-8) round trip", async () => {
    const env = await encryptSopsFile(Buffer.from("A=1\n#note\nB=multi\\nline\n"), { format: "dotenv", recipients: [AGE_RECIPIENT] });
    const d = await decryptSopsFile(env, { format: "dotenv", identities: await ageIds() });
    expect(Buffer.from(renderDecrypted(d)).toString()).toBe("A=1\n#note\nB=multi\\nline\n");
    const bin = Buffer.from([0, 0xff, 0xfe, 0x80, 0x41, 0x0a, 0xc3, 0x28]);
    const encBin = await encryptSopsFile(bin, { format: "binary", recipients: [SSH_RECIPIENT] });
    const db = await decryptSopsFile(encBin, { format: "binary", identities: await hostIds() });
    expect(Buffer.from(db.data).equals(bin)).toBe(true);
  });

  it("encrypted_regex and mac_only_encrypted are honoured", async () => {
    const plain = "apiVersion: v1\nstringData:\n    key: value\n";
    const enc = await encryptSopsFile(Buffer.from(plain), { format: "yaml", recipients: [AGE_RECIPIENT], rules: { encryptedRegex: "^(data|stringData)$" }, macOnlyEncrypted: true });
    const text = Buffer.from(enc).toString();
    expect(text).toContain("apiVersion: v1");
    expect(text).toContain("encrypted_regex: ^(data|stringData)$");
    expect(text).toContain("mac_only_encrypted: true");
    const d = await decryptSopsFile(enc, { format: "yaml", identities: await ageIds() });
    expect(toPlain(d.documents[0]!)).toEqual({ apiVersion: "v1", stringData: { key: "value" } });
  });

  it("the data key in every `enc` opens with the real age CLI", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "flotilla-sops-"));
    try {
      const enc = await encryptSopsFile(Buffer.from("a: b\n"), { format: "yaml", recipients: [SSH_RECIPIENT, AGE_RECIPIENT] });
      const md = loadSops(enc, "yaml", "t").metadata;
      for (const [i, idFile] of [[0, "synthetic/ssh-ed25519-key"], [1, "sops-nix/age-keys.txt"]] as const) {
        await writeFile(path.join(dir, `k${i}`), md.age[i]!.enc);
        const out = await execa("age", ["-d", "-i", vector(idFile), path.join(dir, `k${i}`)], { encoding: "buffer" });
        expect(out.stdout.length).toBe(32);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("updateKeys", () => {
  it("adds and removes recipients, keeps every value byte-identical, MAC still verifies", async () => {
    const enc = await encryptSopsFile(Buffer.from(YAML), { format: "yaml", recipients: [AGE_RECIPIENT] });
    await expect(decryptSopsFile(enc, { format: "yaml", identities: await hostIds() })).rejects.toBeInstanceOf(NoMatchingRecipientError);
    const up = await updateKeys(enc, { format: "yaml", identities: await ageIds(), recipients: [SSH_RECIPIENT] });
    expect(up.added).toEqual([SSH_RECIPIENT]);
    expect(up.removed).toEqual([AGE_RECIPIENT]);
    const before = loadSops(enc, "yaml", "a").branches;
    const after = loadSops(up.bytes, "yaml", "b").branches;
    expect(after).toEqual(before);
    const d = await decryptSopsFile(up.bytes, { format: "yaml", identities: await hostIds() });
    expect(toPlain(extract(d, "db_password"))).toBe("hunter2");
    await expect(decryptSopsFile(up.bytes, { format: "yaml", identities: await ageIds() })).rejects.toBeInstanceOf(NoMatchingRecipientError);
  });

  it("works on real sops output (sops-nix secrets.yaml) and refuses a tampered file", async () => {
    const original = readVector("sops-nix/secrets.yaml");
    const up = await updateKeys(original, { format: "yaml", identities: await ageIds(), recipients: [AGE_RECIPIENT, SSH_RECIPIENT] });
    const d = await decryptSopsFile(up.bytes, { format: "yaml", identities: await hostIds() });
    expect(toPlain(d.documents[0]!)).toEqual(JSON.parse(readVector("sops-nix/secrets.yaml.expected.json").toString()));
    const tampered = Buffer.from(original.toString().replace("test_key: ", "renamed_key: "));
    await expect(updateKeys(tampered, { format: "yaml", identities: await ageIds(), recipients: [AGE_RECIPIENT] })).rejects.toThrow();
  });
});

describe("extract and renderValue", () => {
  it("slash, dot, dotted-key and bracket paths; absent paths name the missing segment", async () => {
    const d = await decryptSopsFile(readVector("sops-nix/secrets.yaml"), { format: "yaml", identities: await ageIds(), file: "s.yaml" });
    expect(Buffer.from(renderValue(extract(d, "nested/test/file"), "yaml")).toString()).toBe("another value");
    expect(Buffer.from(renderValue(extract(d, "nested.test.file"), "yaml")).toString()).toBe("another value");
    expect(Buffer.from(renderValue(extract(d, '["a_list"][1]'), "yaml")).toString()).toBe("e3");
    expect(Buffer.from(renderValue(extract(d, "a_list/0"), "yaml")).toString()).toBe("e1");
    expect(Buffer.from(renderValue(extract(d, "nested"), "yaml")).toString()).toBe("test:\n    file: another value\n");
    const err = (() => {
      try {
        extract(d, "nested/nope/file", "s.yaml");
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(KeyPathNotFoundError);
    expect((err as Error).message).toBe('s.yaml: key path "nested/nope/file" not found (no "nope" there); expected the key to exist in the decrypted file');
    const dotted = await encryptSopsFile(Buffer.from('"db.password": x\ndb:\n    password: y\n'), { format: "yaml", recipients: [AGE_RECIPIENT] });
    const dd = await decryptSopsFile(dotted, { format: "yaml", identities: await ageIds() });
    expect(toPlain(extract(dd, "db.password"))).toBe("x");
    expect(toPlain(extract(dd, "db/password"))).toBe("y");
  });

  it("MAC failures surface before any value is returned", async () => {
    const text = readVector("sops-nix/secrets.yaml").toString().replace(/^test_key: .*\n/m, "");
    await expect(decryptSopsFile(Buffer.from(text), { format: "yaml", identities: await ageIds() })).rejects.toBeInstanceOf(MacMismatchError);
  });
});
