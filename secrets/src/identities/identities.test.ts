import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { Encrypter } from "age-encryption";
import { loadHostIdentities, hostRecipient } from "./host.js";
import { loadIdentityFile, parseAgeKeyFile } from "./age-keys.js";
import { parseEd25519PrivateKey } from "./openssh.js";
import { sshToAgeIdentity } from "./ssh-to-age.js";
import { SshEd25519Recipient } from "./ssh-ed25519.js";
import { parseEd25519PublicKey } from "./openssh.js";
import { ageDecrypt } from "../sops/data-key.js";
import { HostKeyError, IdentityError } from "../errors.js";
import { manifest, readVector, vector } from "../testing/interop.js";

interface Conversion {
  privateKey?: string;
  passphrase?: string;
  publicKey?: string;
  knownHostsLine?: string;
  ageIdentity?: string;
  ageRecipient: string;
}
const conversions = JSON.parse(readVector(manifest().sshToAge).toString("utf8")) as Conversion[];

describe("ssh-to-age mapping (expected-conversions.json)", () => {
  for (const c of conversions) {
    it(`${c.privateKey ?? c.publicKey ?? c.knownHostsLine}`, async () => {
      if (c.publicKey) expect(hostRecipient(readVector(c.publicKey).toString("utf8"))).toBe(c.ageRecipient);
      if (c.knownHostsLine) expect(hostRecipient(c.knownHostsLine)).toBe(c.ageRecipient);
      if (c.privateKey) {
        const key = parseEd25519PrivateKey(readVector(c.privateKey), c.privateKey, c.passphrase);
        expect(sshToAgeIdentity(key.seed)).toBe(c.ageIdentity);
        if (!c.passphrase) {
          const ids = await loadHostIdentities(vector(c.privateKey));
          expect(ids.map((i) => i.kind)).toEqual(["ssh-to-age", "ssh-ed25519"]);
          expect(ids[0]!.recipient).toBe(c.ageRecipient);
          expect(ids[1]!.recipient).toBe(readVector(c.publicKey!).toString("utf8").trim().split(" ").slice(0, 2).join(" "));
        }
      }
    });
  }

  it("keyscan output: ed25519 lines convert, RSA lines are rejected by name", () => {
    const lines = readVector("ssh-to-age/keyscan.txt").toString("utf8").split("\n").filter((l) => l && !l.startsWith("#"));
    const ed = lines.filter((l) => l.includes(" ssh-ed25519 ")).map((l) => hostRecipient(l));
    expect(ed).toEqual(conversions.filter((c) => c.knownHostsLine).map((c) => c.ageRecipient));
    const rsa = lines.find((l) => l.includes(" ssh-rsa "))!;
    expect(() => hostRecipient(rsa)).toThrow(/expected an ssh-ed25519 public key, found ssh-rsa/);
  });

  it("a passphrase-protected key without passphrase is a clear error", () => {
    expect(() => parseEd25519PrivateKey(readVector("ssh-to-age/id_ed25519_passphrase"), "k")).toThrow(/passphrase-protected/);
  });

  it("missing and non-ed25519 host keys are HostKeyErrors naming the file", async () => {
    await expect(loadHostIdentities("/nonexistent/ssh_host_ed25519_key")).rejects.toThrow(HostKeyError);
    await expect(loadHostIdentities("/nonexistent/ssh_host_ed25519_key")).rejects.toThrow(/nonexistent\/ssh_host_ed25519_key: missing/);
    await expect(loadHostIdentities(vector("sops/x25519_identity.txt"))).rejects.toThrow(HostKeyError);
  });
});

describe("getsops/sops age key source vectors", () => {
  it("X25519 stanza decrypts to 'data'; the other identity gets no match", async () => {
    const [id] = await parseAgeKeyFile(readVector("sops/x25519_identity.txt").toString(), "x25519_identity.txt");
    expect(id!.recipient).toBe(readVector("sops/x25519_recipient.txt").toString().trim());
    const enc = readVector("sops/x25519_encrypted_data_key.age").toString();
    expect(Buffer.from(await ageDecrypt(enc, { identities: [id!.age] })).toString()).toBe("data");
    const [other] = await parseAgeKeyFile(readVector("sops/x25519_other_identity.txt").toString(), "other");
    await expect(ageDecrypt(enc, { identities: [other!.age] })).rejects.toThrow(/no identity matched/);
  });

  it("native ssh-ed25519 stanza decrypts with the OpenSSH key (custom age identity)", async () => {
    const ids = await loadIdentityFile(vector("sops/ssh_ed25519_identity"));
    const enc = readVector("sops/ssh_ed25519_encrypted_data_key.age").toString();
    expect(Buffer.from(await ageDecrypt(enc, { identities: ids.map((i) => i.age) })).toString()).toBe("data");
    // The ssh-to-age identity alone cannot open a native ssh-ed25519 stanza.
    await expect(ageDecrypt(enc, { identities: [ids[0]!.age] })).rejects.toThrow(/no identity matched/);
  });

  it("scrypt-encrypted identity file opens with its passphrase", async () => {
    const out = await ageDecrypt(readVector("sops/scrypt_encrypted_identity.age").toString(), {
      passphrases: [readVector("sops/scrypt_encrypted_identity.passphrase").toString().trim()],
    });
    expect(Buffer.from(out).toString()).toContain("AGE-SECRET-KEY-1G0Q5K9TV4REQ3ZSQRMTMG8NSWQGYT0T7TZ33RAZEE0GZYVZN0APSU24RK7");
  });

  it("hybrid PQ identity file parses", async () => {
    const [id] = await parseAgeKeyFile(readVector("sops/hybrid_pq_identity.txt").toString(), "pq");
    expect(id!.kind).toBe("hybrid");
    expect(id!.recipient.startsWith("age1pq1")).toBe(true);
  });

  it("identities never serialise their secret", async () => {
    const ids = await loadIdentityFile(vector("sops-nix/ssh-ed25519-key"));
    const text = JSON.stringify(ids) + String(ids.map((i) => JSON.stringify({ ...i })));
    expect(text).not.toMatch(/AGE-SECRET-KEY/);
  });

  it("garbage identity files are IdentityErrors", async () => {
    await expect(parseAgeKeyFile("hello\n", "f.txt")).rejects.toThrow(IdentityError);
  });
});

describe("round trips with the real age CLI", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "flotilla-age-"));
    await execa("age-keygen", ["-o", path.join(dir, "x25519.txt")]);
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path.join(dir, "ssh_host_ed25519_key")]);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const payload = Buffer.from("round trip \u2713\n");

  it("age -e -r age1… (X25519) → ours", async () => {
    const ids = await loadIdentityFile(path.join(dir, "x25519.txt"));
    const { stdout } = await execa("age", ["-e", "-a", "-r", ids[0]!.recipient], { input: payload, encoding: "buffer", stripFinalNewline: false });
    expect(Buffer.from(await ageDecrypt(Buffer.from(stdout).toString(), { identities: ids.map((i) => i.age) })).equals(payload)).toBe(true);
  });

  it("ours (X25519) → age -d -i", async () => {
    const ids = await loadIdentityFile(path.join(dir, "x25519.txt"));
    const e = new Encrypter();
    e.addRecipient(ids[0]!.recipient);
    await writeFile(path.join(dir, "x.age"), await e.encrypt(payload));
    const { stdout } = await execa("age", ["-d", "-i", path.join(dir, "x25519.txt"), path.join(dir, "x.age")], { encoding: "buffer", stripFinalNewline: false });
    expect(Buffer.from(stdout).equals(payload)).toBe(true);
  });

  it("age -e -R ssh-ed25519.pub (native stanza) → our ssh-ed25519 identity", async () => {
    const ids = await loadHostIdentities(path.join(dir, "ssh_host_ed25519_key"));
    const { stdout } = await execa("age", ["-e", "-R", path.join(dir, "ssh_host_ed25519_key.pub")], { input: payload, encoding: "buffer", stripFinalNewline: false });
    expect(Buffer.from(stdout).toString("latin1")).toContain("-> ssh-ed25519 ");
    expect(Buffer.from(await ageDecrypt(Buffer.from(stdout), { identities: [ids[1]!.age] })).equals(payload)).toBe(true);
  });

  it("our ssh-ed25519 recipient → age -d -i ssh key", async () => {
    const pub = parseEd25519PublicKey(await readFile(path.join(dir, "ssh_host_ed25519_key.pub"), "utf8"), "pub");
    const e = new Encrypter();
    e.addRecipient(new SshEd25519Recipient(pub));
    await writeFile(path.join(dir, "s.age"), await e.encrypt(payload));
    const { stdout } = await execa("age", ["-d", "-i", path.join(dir, "ssh_host_ed25519_key"), path.join(dir, "s.age")], { encoding: "buffer", stripFinalNewline: false });
    expect(Buffer.from(stdout).equals(payload)).toBe(true);
  });

  it("age -e -r <ssh-to-age recipient of an ssh-keygen key> → our converted identity; and `age -d` with the converted identity", async () => {
    const ids = await loadHostIdentities(path.join(dir, "ssh_host_ed25519_key"));
    const recipient = hostRecipient(await readFile(path.join(dir, "ssh_host_ed25519_key.pub"), "utf8"));
    expect(recipient).toBe(ids[0]!.recipient);
    const { stdout } = await execa("age", ["-e", "-r", recipient], { input: payload, encoding: "buffer", stripFinalNewline: false });
    expect(Buffer.from(await ageDecrypt(Buffer.from(stdout), { identities: [ids[0]!.age] })).equals(payload)).toBe(true);
    await writeFile(path.join(dir, "conv.txt"), `${sshToAgeIdentity(parseEd25519PrivateKey(await readFile(path.join(dir, "ssh_host_ed25519_key")), "k").seed)}\n`, { mode: 0o600 });
    const e = new Encrypter();
    e.addRecipient(recipient);
    await writeFile(path.join(dir, "c.age"), await e.encrypt(payload));
    const out = await execa("age", ["-d", "-i", path.join(dir, "conv.txt"), path.join(dir, "c.age")], { encoding: "buffer", stripFinalNewline: false });
    expect(Buffer.from(out.stdout).equals(payload)).toBe(true);
  });
});
