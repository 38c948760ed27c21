/**
 * Secrets install on real files: host keys from ssh-keygen, sops files we
 * encrypt for them, generation dirs under a temp root, the atomic `current`
 * link, restart plan, rollback, prune, every failure mode aborting before
 * anything is written, and a grep of everything written for the plaintext.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lstat, mkdtemp, readdir, readFile, readlink, rm, stat } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import {
  activateSecretsGeneration,
  currentSecretsGeneration,
  encryptSopsFile,
  hostRecipient,
  HostKeyError,
  KeyPathNotFoundError,
  listSecretsGenerations,
  loadHostIdentities,
  MacMismatchError,
  MalformedValueError,
  NoMatchingRecipientError,
  prepareSecretsGeneration,
  pruneSecretsGenerations,
  rollbackSecrets,
  type Identity,
  type SecretDeclaration,
} from "../../secrets/src/index.js";

const SECRET_V1 = "s3cr3t-value-one-7f1c";
const SECRET_V2 = "s3cr3t-value-two-93ab";
const OTHER = "db-password-unchanged-55e0";

let tmp: string;
let root: string;
let hostIds: Identity[];
let strangerIds: Identity[];
let hostPubLine: string;
const errors: string[] = [];

async function sshKey(name: string): Promise<string> {
  const f = path.join(tmp, name);
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", f]);
  return f;
}

async function sopsYaml(values: Record<string, string>, recipients: string[]): Promise<Uint8Array> {
  const text = Object.entries(values)
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join("\n");
  return encryptSopsFile(Buffer.from(`${text}\n`), { format: "yaml", recipients });
}

function decl(bytes: Uint8Array, over: Partial<SecretDeclaration> = {}): SecretDeclaration[] {
  return [
    { name: "app/token", sopsFile: { bytes, path: "secrets/app.yaml" }, key: "app/token", owner: "root", group: "root", mode: "0440", restartUnits: ["app.service"], ...over },
    { name: "db-password", sopsFile: { bytes, path: "secrets/app.yaml" }, key: "db.password", restartUnits: ["db.service"] },
  ];
}

async function capture<T>(p: Promise<T>): Promise<unknown> {
  try {
    await p;
    return undefined;
  } catch (e) {
    errors.push(String(e), JSON.stringify(e), (e as Error).stack ?? "", String((e as Error).cause ?? ""));
    return e;
  }
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), "flotilla-secrets-install-"));
  root = path.join(tmp, "run/flotilla/secrets.d");
  const hostKey = await sshKey("ssh_host_ed25519_key");
  hostIds = await loadHostIdentities(hostKey);
  hostPubLine = readFileSync(`${hostKey}.pub`, "utf8");
  strangerIds = await loadHostIdentities(await sshKey("stranger_host_key"));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("secrets generations on real files", () => {
  let v1: Uint8Array;
  let v2: Uint8Array;

  it("generation 1: decrypts for the host (ssh-to-age recipient), writes files with owner/mode, does not switch", async () => {
    v1 = await sopsYaml({ "app/token": SECRET_V1 }, [hostRecipient(hostPubLine)]);
    // nested key + dotted lookup, via a second file layout
    v1 = await encryptSopsFile(Buffer.from(`app/token: ${SECRET_V1}\ndb:\n    password: ${OTHER}\n`), { format: "yaml", recipients: [hostRecipient(hostPubLine)] });
    const plan = await prepareSecretsGeneration({ root, generation: 1, secrets: decl(v1), identities: hostIds, chown: process.getuid?.() === 0 });
    expect(plan).toMatchObject({ generation: 1, previous: undefined, added: ["app/token", "db-password"], changed: [], removed: [], restartUnits: ["app.service", "db.service"] });
    expect(await currentSecretsGeneration(root)).toBeUndefined();
    expect(await readFile(path.join(root, "1/app/token"), "utf8")).toBe(SECRET_V1);
    const st = await stat(path.join(root, "1/app/token"));
    expect(st.mode & 0o777).toBe(0o440);
    expect((await stat(path.join(root, "1/db-password"))).mode & 0o777).toBe(0o400);
    if (process.getuid?.() === 0) expect(st.uid).toBe(0);
    expect(await activateSecretsGeneration(root, 1)).toBeUndefined();
    expect(await readlink(path.join(root, "current"))).toBe("1");
    expect(await readFile(path.join(root, "current/db-password"), "utf8")).toBe(OTHER);
  });

  it("generation 2 (native ssh-ed25519 recipient): only the changed secret's units restart; install path symlink", async () => {
    const linkPath = path.join(tmp, "etc/app/token");
    v2 = await encryptSopsFile(Buffer.from(`app/token: ${SECRET_V2}\ndb:\n    password: ${OTHER}\n`), { format: "yaml", recipients: [hostPubLine.trim().split(" ").slice(0, 2).join(" ")] });
    const plan = await prepareSecretsGeneration({ root, generation: 2, secrets: decl(v2, { path: linkPath }), identities: hostIds });
    expect(plan).toMatchObject({ previous: 1, changed: ["app/token"], unchanged: ["db-password"], restartUnits: ["app.service"] });
    expect(await activateSecretsGeneration(root, 2)).toBe(1);
    expect(await readFile(path.join(root, "current/app/token"), "utf8")).toBe(SECRET_V2);
    expect((await lstat(linkPath)).isSymbolicLink()).toBe(true);
    expect(await readFile(linkPath, "utf8")).toBe(SECRET_V2);
  });

  it("rollback switches back and names the units to restart", async () => {
    const plan = await rollbackSecrets(root, 1);
    expect(plan).toMatchObject({ generation: 1, previous: 2, changed: ["app/token"], restartUnits: ["app.service"] });
    expect(await readFile(path.join(root, "current/app/token"), "utf8")).toBe(SECRET_V1);
    expect(await activateSecretsGeneration(root, 2)).toBe(1);
  });

  it("a host that is not a recipient: error lists the file's recipients and ours; nothing written, current kept", async () => {
    const e = await capture(prepareSecretsGeneration({ root, generation: 3, secrets: decl(v2), identities: strangerIds }));
    expect(e).toBeInstanceOf(NoMatchingRecipientError);
    const msg = (e as Error).message;
    expect(msg).toContain("secrets/app.yaml");
    expect(msg).toContain(hostPubLine.trim().split(" ").slice(0, 2).join(" "));
    expect(msg).toContain(strangerIds[0]!.recipient);
    expect((e as NoMatchingRecipientError).stalled).toBe(true);
    expect(await listSecretsGenerations(root)).toEqual([1, 2]);
    expect(await currentSecretsGeneration(root)).toBe(2);
  });

  it("MAC mismatch, absent key path, malformed value, missing host key: each aborts before writing", async () => {
    const tampered = Buffer.from(Buffer.from(v2).toString().replace(/^db:\n {4}password: .*\n/m, ""));
    expect(await capture(prepareSecretsGeneration({ root, generation: 3, secrets: decl(tampered), identities: hostIds }))).toBeInstanceOf(MacMismatchError);
    const absent = await capture(prepareSecretsGeneration({ root, generation: 3, secrets: decl(v2, { key: "app/nope" }), identities: hostIds }));
    expect(absent).toBeInstanceOf(KeyPathNotFoundError);
    expect((absent as Error).message).toContain('secrets/app.yaml: key path "app/nope" not found');
    const malformed = Buffer.from(Buffer.from(v2).toString().replace(/^(app\/token: ENC\[AES256_GCM,data:)/m, "$1!!"));
    const bad = await capture(prepareSecretsGeneration({ root, generation: 3, secrets: decl(malformed), identities: hostIds }));
    expect(bad).toBeInstanceOf(MalformedValueError);
    expect((bad as Error).message).toMatch(/secrets\/app\.yaml at app\/token: expected an encrypted value/);
    expect(await capture(loadHostIdentities(path.join(tmp, "no_such_key")))).toBeInstanceOf(HostKeyError);
    expect(await listSecretsGenerations(root)).toEqual([1, 2]);
    expect(await currentSecretsGeneration(root)).toBe(2);
  });

  it("prune keeps the newest N and always the current one", async () => {
    await prepareSecretsGeneration({ root, generation: 3, secrets: decl(v1), identities: hostIds });
    await prepareSecretsGeneration({ root, generation: 4, secrets: decl(v2), identities: hostIds });
    // current is 2; keep 1 → keeps 4 (newest) and 2 (current)
    expect(await pruneSecretsGenerations(root, 1)).toEqual([1, 3]);
    expect(await listSecretsGenerations(root)).toEqual([2, 4]);
    await activateSecretsGeneration(root, 4);
    expect(await pruneSecretsGenerations(root, 1)).toEqual([2]);
  });

  it("no plaintext anywhere outside the generation dirs: temp dir files, errors, manifests", async () => {
    const hits: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const ent of await readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, ent.name);
        if (ent.isDirectory()) {
          if (/\/secrets\.d\/\d+$/.test(p)) {
            // inside a generation dir only the manifest may be non-secret
            const manifest = await readFile(path.join(p, ".flotilla-secrets.json"), "utf8");
            for (const s of [SECRET_V1, SECRET_V2, OTHER]) if (manifest.includes(s)) hits.push(`${p}/.flotilla-secrets.json`);
            continue;
          }
          await walk(p);
        } else if (ent.isFile()) {
          const text = await readFile(p, "latin1");
          for (const s of [SECRET_V1, SECRET_V2, OTHER]) if (text.includes(s)) hits.push(p);
        }
      }
    };
    await walk(tmp);
    expect(hits).toEqual([]);
    const all = errors.join("\n");
    expect(errors.length).toBeGreaterThan(5);
    for (const s of [SECRET_V1, SECRET_V2, OTHER]) expect(all).not.toContain(s);
  });
});
