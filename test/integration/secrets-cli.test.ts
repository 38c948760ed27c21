/**
 * `flotilla keys …` and `flotilla secrets …` end to end on real files:
 * ssh-to-age mapping, encrypt/decrypt/extract, and updatekeys deriving host
 * recipients from hostKey in fleet.yaml plus the .sops.yaml creation rule.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PassThrough } from "node:stream";
import { execa } from "execa";
import { run as keys } from "../../controller/src/commands/keys.js";
import { run as secrets } from "../../controller/src/commands/secrets.js";
import { decryptSopsFile, loadHostIdentities, loadSopsRecipients } from "../../secrets/src/index.js";

const interop = path.resolve(import.meta.dirname, "../../../shared/testdata/interop");
const conversions = JSON.parse(readFileSync(path.join(interop, "ssh-to-age/expected-conversions.json"), "utf8")) as Array<Record<string, string>>;

async function cli(cmd: typeof keys, argv: string[], cwd: string) {
  const out = new PassThrough();
  const err = new PassThrough();
  const o: Buffer[] = [];
  const e: Buffer[] = [];
  out.on("data", (c: Buffer) => o.push(c));
  err.on("data", (c: Buffer) => e.push(c));
  const code = await cmd(argv, { stdout: out, stderr: err, cwd });
  return { code, stdout: Buffer.concat(o), stderr: Buffer.concat(e).toString() };
}

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "flotilla-secrets-cli-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("flotilla keys", () => {
  it("recipient: .pub file and ssh-keyscan output (RSA lines skipped with a note)", async () => {
    const pub = await cli(keys, ["recipient", path.join(interop, "sops-nix/ssh-ed25519-key.pub")], tmp);
    expect(pub.code).toBe(0);
    expect(pub.stdout.toString()).toBe("age1a8pk4akrdamj7nvqy3zywgtny8dxz7t5xzu7u8v9mhrayp9freqsqatyrs\n");
    const scan = await cli(keys, ["recipient", path.join(interop, "ssh-to-age/keyscan.txt")], tmp);
    expect(scan.stdout.toString().trim().split("\n")).toEqual(conversions.filter((c) => c["knownHostsLine"]).map((c) => c["ageRecipient"]));
    expect(scan.stderr).toMatch(/skipping a ssh-rsa key/);
    const bad = await cli(keys, ["recipient", path.join(interop, "sops/x25519_identity.txt")], tmp);
    expect(bad.code).toBe(1);
  });

  it("identity: prints the ssh-to-age identity, also for a passphrase-protected key", async () => {
    for (const c of conversions.filter((x) => x["privateKey"])) {
      const args = ["identity", path.join(interop, c["privateKey"]!)];
      if (c["passphrase"]) {
        await writeFile(path.join(tmp, "pass"), `${c["passphrase"]}\n`);
        args.push("--passphrase-file", path.join(tmp, "pass"));
      }
      const r = await cli(keys, args, tmp);
      expect(r.stdout.toString()).toBe(`${c["ageIdentity"]}\n`);
    }
  });
});

describe("flotilla secrets", () => {
  it("decrypt a real sops-nix file with the host key, whole and --extract", async () => {
    const key = path.join(interop, "sops-nix/ssh-ed25519-key");
    const whole = await cli(secrets, ["decrypt", path.join(interop, "sops-nix/secrets.yaml"), "--identity", key], tmp);
    expect(whole.code).toBe(0);
    expect(whole.stdout.toString()).toBe("test_key: test_value\na_list:\n    - e1\n    - e3\nnested:\n    test:\n        file: another value\n");
    const one = await cli(secrets, ["decrypt", path.join(interop, "sops-nix/secrets.yaml"), "--identity", key, "--extract", '["nested"]["test"]["file"]'], tmp);
    expect(one.stdout.toString()).toBe("another value");
    const miss = await cli(secrets, ["decrypt", path.join(interop, "sops-nix/secrets.yaml"), "--identity", key, "--extract", "nested/nope"], tmp);
    expect(miss.code).toBe(1);
    expect(miss.stderr).toContain('key path "nested/nope" not found');
  });

  it("encrypt for an age and an ssh-ed25519 recipient; decrypt with each; the age CLI opens the data key", async () => {
    await writeFile(path.join(tmp, "plain.json"), '{"token": "tok-123", "n": 42}');
    const sshPub = readFileSync(path.join(interop, "sops-nix/ssh-ed25519-key.pub"), "utf8").trim().split(" ").slice(0, 2).join(" ");
    const enc = await cli(secrets, ["encrypt", path.join(tmp, "plain.json"), "--age", `age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw,${sshPub}`, "--output", path.join(tmp, "enc.json")], tmp);
    expect(enc.code).toBe(0);
    const text = await readFile(path.join(tmp, "enc.json"), "utf8");
    expect(text).not.toContain("tok-123");
    for (const id of ["sops-nix/age-keys.txt", "sops-nix/ssh-ed25519-key"]) {
      const d = await cli(secrets, ["decrypt", path.join(tmp, "enc.json"), "-i", path.join(interop, id), "--extract", "token"], tmp);
      expect(d.stdout.toString()).toBe("tok-123");
    }
    const first = (JSON.parse(text) as { sops: { age: Array<{ enc: string }> } }).sops.age[0]!.enc;
    await writeFile(path.join(tmp, "dk.age"), first);
    const { stdout } = await execa("age", ["-d", "-i", path.join(interop, "sops-nix/age-keys.txt"), path.join(tmp, "dk.age")], { encoding: "buffer" });
    expect(stdout.length).toBe(32);
  });

  it("updatekeys: .sops.yaml operator key + ssh-to-age of every host whose fleet secrets use the file", async () => {
    const repo = path.join(tmp, "fleet-repo");
    await mkdir(path.join(repo, "secrets"), { recursive: true });
    const operator = "age1yt3tfqlfrwdwx0z0ynwplcr6qxcxfaqycuprpmy89nr83ltx74tqdpszlw";
    await writeFile(path.join(repo, ".sops.yaml"), `creation_rules:\n  - path_regex: secrets/.*\\.yaml$\n    age: ${operator}\n`);
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "web-1", "-f", path.join(tmp, "web1_key")]);
    const web1Pub = readFileSync(path.join(tmp, "web1_key.pub"), "utf8").trim();
    await writeFile(
      path.join(repo, "fleet.yaml"),
      `version: 1\npolicy:\n  branch: main\nhosts:\n  - name: web-1\n    kind: nixos\n    hostKey: ${web1Pub}\n  - name: db-1\n    kind: nixos\n    hostKey: ${readFileSync(path.join(interop, "sops-nix/ssh-ed25519-key.pub"), "utf8").trim()}\nsecrets:\n  - name: token\n    sopsFile: secrets/app.yaml\n    key: token\n    hosts: [web-1]\n`,
    );
    await writeFile(path.join(repo, "secrets/plain.yaml"), "token: hello-web\n");
    const enc = await cli(secrets, ["encrypt", path.join(repo, "secrets/plain.yaml"), "--output", path.join(repo, "secrets/app.yaml")], repo);
    expect(enc.stderr).toBe("");
    expect(enc.code).toBe(0);
    await rm(path.join(repo, "secrets/plain.yaml"));
    const web1 = await loadHostIdentities(path.join(tmp, "web1_key"));
    await expect(decryptSopsFile(await readFile(path.join(repo, "secrets/app.yaml")), { format: "yaml", identities: web1 })).rejects.toThrow(/no age recipient/);
    const up = await cli(secrets, ["updatekeys", "--identity", path.join(interop, "sops-nix/age-keys.txt")], repo);
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(up.stdout.toString()).toContain(`secrets/app.yaml: updated keys\n  + ${web1[0]!.recipient}`);
    expect(loadSopsRecipients(await readFile(path.join(repo, "secrets/app.yaml")), "yaml")).toEqual([operator, web1[0]!.recipient]);
    const d = await decryptSopsFile(await readFile(path.join(repo, "secrets/app.yaml")), { format: "yaml", identities: web1 });
    expect(d.documents[0]!.items).toHaveLength(1);
    const again = await cli(secrets, ["updatekeys", "--identity", path.join(interop, "sops-nix/age-keys.txt")], repo);
    expect(again.stdout.toString()).toContain("already up to date");
  });
});
