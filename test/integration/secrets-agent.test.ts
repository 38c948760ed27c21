/**
 * The agent's Secrets port (SopsSecrets) end to end on a real fleet repo:
 * real git revisions, fleet.yaml through the real loader, host keys from
 * ssh-keygen, a stand-in `systemctl` whose restart of app.service records
 * the secret the service then sees. Covers: the secret reaches the service,
 * a change restarts only its units, rollback restores the previous secret,
 * a host that is not a recipient keeps its current generation and reports
 * the recipients, and nothing written or logged contains the plaintext.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { makeFleetRepo, type FleetRepo } from "../helpers/git-repo.js";
import { makeTempDir, cleanupTempDirs } from "../helpers/tmp.js";
import { loadFleetText } from "../../common/src/fleet/load.js";
import type { Secrets } from "../../node-agent/src/ports.js";
import { currentSecretsGeneration, encryptSopsFile, hostRecipient, NoMatchingRecipientError, SopsSecrets } from "../../secrets/src/index.js";

const V1 = "tok-v1-2b7d0c";
const V2 = "tok-v2-f4e1aa";
const DBPASS = "dbpass-91c3";

let tmp: string;
let repo: FleetRepo;
let keys: Record<string, { priv: string; pub: string }>;
const logs: string[] = [];

async function hostKey(name: string) {
  const priv = path.join(tmp, `${name}_ssh_host_ed25519_key`);
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", priv]);
  return { priv, pub: readFileSync(`${priv}.pub`, "utf8").trim() };
}

function fleetYaml(tokenHosts: string[]): string {
  return `version: 1
policy:
  branch: main
hosts:
  - name: web-1
    kind: nixos
    hostKey: ${keys["web-1"]!.pub}
  - name: db-1
    kind: nixos
    hostKey: ${keys["db-1"]!.pub}
secrets:
  - name: app-token
    sopsFile: secrets/app.yaml
    key: app/token
    hosts: [${tokenHosts.join(", ")}]
    mode: "0440"
    restartUnits: [app.service]
  - name: dbpass
    sopsFile: secrets/db.env
    key: DBPASS
    hosts: [db-1]
    restartUnits: [postgresql.service]
`;
}

async function enc(text: string, format: "yaml" | "dotenv", hosts: string[]): Promise<string> {
  return Buffer.from(await encryptSopsFile(Buffer.from(text), { format, recipients: hosts.map((h) => hostRecipient(keys[h]!.pub)) })).toString();
}

function agentFor(host: string) {
  const root = path.join(tmp, host, "run/flotilla/secrets.d");
  const systemctl = path.join(tmp, "bin/systemctl");
  const secrets = new SopsSecrets({
    root,
    hostKeyPath: keys[host]!.priv,
    readFile: async (rev, file) => {
      const r = await execa("git", ["-C", repo.dir, "show", `${rev}:${file}`], { encoding: "buffer", reject: false, stripFinalNewline: false });
      return r.exitCode === 0 ? r.stdout : null;
    },
    restartUnits: async (units) => {
      await execa(systemctl, ["restart", ...units], { env: { SECRETS_ROOT: root, STATE: path.join(tmp, host) } });
    },
    log: { info: (msg, fields) => logs.push(`${msg} ${JSON.stringify(fields)}`) },
  });
  const port: Secrets = secrets; // structurally the agent's port
  return { root, secrets, port };
}

async function ctx(host: string, rev: string) {
  const text = (await execa("git", ["-C", repo.dir, "show", `${rev}:fleet.yaml`])).stdout;
  const { fleet, issues } = await loadFleetText(text, "fleet.yaml");
  expect(issues.filter((i) => i.severity === "error")).toEqual([]);
  return { fleet: fleet!, host: fleet!.hosts.find((h) => h.name === host)!, rev };
}

beforeAll(async () => {
  tmp = await makeTempDir("flotilla-secrets-agent-");
  keys = { "web-1": await hostKey("web-1"), "db-1": await hostKey("db-1") };
  await mkdir(path.join(tmp, "bin"), { recursive: true });
  // Stand-in systemctl: records restarts; "restarting" app.service makes the
  // service read its secret through the current link, as a real unit would.
  await writeFile(
    path.join(tmp, "bin/systemctl"),
    `#!/bin/sh
echo "$*" >> "$STATE/systemctl.log"
for u in "$@"; do
  if [ "$u" = app.service ]; then cat "$SECRETS_ROOT/current/app-token" > "$STATE/app-sees"; fi
  if [ "$u" = postgresql.service ]; then cat "$SECRETS_ROOT/current/dbpass" > "$STATE/pg-sees"; fi
done
`,
  );
  await chmod(path.join(tmp, "bin/systemctl"), 0o755);
  repo = await makeFleetRepo();
});

afterAll(async () => {
  await cleanupTempDirs();
});

describe("SopsSecrets (agent Secrets port) on a real fleet repo", () => {
  let rev1: string;
  let rev2: string;

  it("install: the secret reaches the stand-in service through <root>/current", async () => {
    rev1 = await repo.commit(
      {
        "fleet.yaml": fleetYaml(["web-1"]),
        "secrets/app.yaml": await enc(`app/token: ${V1}\n`, "yaml", ["web-1"]),
        "secrets/db.env": await enc(`DBPASS=${DBPASS}\n`, "dotenv", ["db-1"]),
      },
      "secrets v1",
    );
    const web = agentFor("web-1");
    expect(await web.port.install(await ctx("web-1", rev1))).toBe("1");
    expect(await readFile(path.join(tmp, "web-1/app-sees"), "utf8")).toBe(V1);
    const db = agentFor("db-1");
    expect(await db.port.install(await ctx("db-1", rev1))).toBe("1");
    expect(await readFile(path.join(tmp, "db-1/pg-sees"), "utf8")).toBe(DBPASS);
  });

  it("a changed secret restarts only its units; rollback restores the previous secret", async () => {
    rev2 = await repo.commit({ "secrets/app.yaml": await enc(`app/token: ${V2}\n`, "yaml", ["web-1"]) }, "rotate token");
    const web = agentFor("web-1");
    expect(await web.port.install(await ctx("web-1", rev2))).toBe("2");
    expect(await readFile(path.join(tmp, "web-1/app-sees"), "utf8")).toBe(V2);
    const db = agentFor("db-1");
    expect(await db.port.install(await ctx("db-1", rev2))).toBe("2");
    expect(db.secrets.lastPlan).toMatchObject({ changed: [], unchanged: ["dbpass"], restartUnits: [] });
    await web.port.rollback(await ctx("web-1", rev1));
    expect(await readFile(path.join(tmp, "web-1/app-sees"), "utf8")).toBe(V1);
    expect(await currentSecretsGeneration(web.root)).toBe(1);
    expect((await readFile(path.join(tmp, "web-1/systemctl.log"), "utf8")).trim().split("\n")).toEqual(["restart app.service", "restart app.service", "restart app.service"]);
    await web.port.install(await ctx("web-1", rev2));
    await web.port.prune(1);
    expect((await readdir(web.root)).filter((n) => /^\d+$/.test(n))).toEqual(["3"]);
  });

  it("a host that is not a recipient keeps its current generation; the error lists the recipients", async () => {
    // fleet.yaml now gives app/token to db-1 too, but nobody ran updatekeys.
    const rev3 = await repo.commit({ "fleet.yaml": fleetYaml(["web-1", "db-1"]) }, "db-1 needs the token");
    const db = agentFor("db-1");
    const before = await currentSecretsGeneration(db.root);
    const err = await db.port.install(await ctx("db-1", rev3)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(NoMatchingRecipientError);
    expect((err as Error).message).toContain("secrets/app.yaml");
    expect((err as Error).message).toContain(hostRecipient(keys["web-1"]!.pub));
    expect((err as Error).message).toContain(hostRecipient(keys["db-1"]!.pub));
    expect(await currentSecretsGeneration(db.root)).toBe(before);
    expect(await readFile(path.join(db.root, "current/dbpass"), "utf8")).toBe(DBPASS);
    logs.push(String(err), JSON.stringify(err));
  });

  it("no plaintext in logs, errors or any file outside the generation dirs", async () => {
    const hits: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const ent of await readdir(dir, { withFileTypes: true })) {
        const p = path.join(dir, ent.name);
        if (ent.isDirectory()) {
          if (/secrets\.d\/\d+$/.test(p)) continue;
          await walk(p);
        } else if (ent.isFile() && !/\/(app|pg)-sees$/.test(p)) {
          const text = await readFile(p, "latin1");
          for (const s of [V1, V2, DBPASS]) if (text.includes(s)) hits.push(p);
        }
      }
    };
    await walk(tmp);
    await walk(repo.dir);
    expect(hits).toEqual([]);
    const all = logs.join("\n");
    expect(logs.length).toBeGreaterThan(3);
    for (const s of [V1, V2, DBPASS]) expect(all).not.toContain(s);
  });
});
