// Per-host deploy logs end to end: the built agent (its own process), a real
// controller on 127.0.0.1, real nix builds of the offline fixture fleet, a
// real age-encrypted SOPS secret. A build that prints the secret's value (also
// in base64) and fails: `flotilla logs HOST` shows the build error's tail with
// the value redacted, and the value is nowhere on the agent's or the
// controller's disk. A step that prints far more than the controller accepts
// in one request (413) still gets its tail delivered, cut from the front.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { encryptSopsFile, hostRecipient } from "../../secrets/src/index.js";
import type { HostLogs } from "../../schemas/src/api.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { buildAgent, REPO_ROOT, waitFor, World } from "./agent/helpers.js";
import { api, OPERATOR_TOKEN, startTestController } from "./controller/harness.js";
import { cli } from "./controller/cli.js";

afterAll(async () => {
  await cleanupTempDirs();
});

/** Runs the built agent's `once` as its own process; resolves with its exit code and output. */
async function onceProcess(w: World): Promise<{ code: number; output: string }> {
  const child = w.spawnBuilt(["once"]);
  const code = await new Promise<number>((resolve) => child.on("exit", (c) => resolve(c ?? -1)));
  return { code, output: child.output() };
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isDirectory()) out.push(...filesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

/** Waits until the controller follows `rev` and its fleet file lists `host` (else the agent's reports stay queued when `once` exits). */
async function controllerAt(ctl: { url: string }, rev: string, host: string): Promise<void> {
  await waitFor(`the controller at ${rev.slice(0, 12)} knowing ${host}`, async () => {
    const h = await api<{ head: string | null }>(ctl.url, "/healthz", { token: null });
    return h.body.head === rev && (await api(ctl.url, `/api/v1/hosts/${host}/logs`)).status === 200;
  }, 30_000, 100);
}

const FIXTURE_BUILD = readFileSync(join(REPO_ROOT, "test/fixtures/fleet/lib/build-system.sh"), "utf8");

describe("per-host deploy logs", () => {
  it("a failing nix build's tail reaches `flotilla logs`, with the host's secret redacted in plain text and base64", async () => {
    await buildAgent();
    const w = await World.create();
    const ctl = await startTestController({ repo: w.repo, pollInterval: "1s" });
    try {
      await w.writeConfig({ controller: ctl.url });
      const value = `Sekrit-${randomBytes(9).toString("hex")}`;
      const sops = Buffer.from(await encryptSopsFile(Buffer.from(`db:\n  password: ${value}\n`), { format: "yaml", recipients: [hostRecipient(w.hostKey.pub)], file: "secrets/db.yaml" })).toString();
      const secrets = [{ name: "db-password", sopsFile: "secrets/db.yaml", key: "db/password", hosts: [w.host], owner: "root", group: "root" }];
      const c1 = await w.commit({ "fleet.yaml": w.fleet({ secrets }), "secrets/db.yaml": sops }, "c1 with a secret");
      await controllerAt(ctl, c1, w.host);
      const r1 = await onceProcess(w);
      expect(r1.code, r1.output).toBe(0);

      // The next commit's build prints the password (as a leaky derivation might), its base64, then fails.
      const b64 = Buffer.from(value).toString("base64");
      const leaky = FIXTURE_BUILD.replace(
        'if [ "$failBuild" = 1 ]; then',
        `echo "connecting to db with password ${value}" >&2\nprintf %s '${value}' | base64 >&2\nif [ "$failBuild" = 1 ]; then`,
      );
      expect(leaky).not.toBe(FIXTURE_BUILD);
      const c2 = await w.commit({ "lib/build-system.sh": leaky, [`markers/${w.host}/fail-build`]: "" }, "c2 leaks and fails");
      await controllerAt(ctl, c2, w.host);
      const r2 = await onceProcess(w);
      expect(r2.code, r2.output).toBe(1);

      const logs = await waitFor("the build failure's tail at the controller", async () => {
        const r = await api<HostLogs>(ctl.url, `/api/v1/hosts/${w.host}/logs?rev=${c2}`);
        return r.body.entries?.find((e) => e.step === "build") ? r.body : null;
      }, 30_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}; agent: ${r2.output.slice(-3000)}; controller: ${ctl.log.lines.slice(-20).join("\n")}`);
      });
      const entry = logs.entries.find((e) => e.step === "build")!;
      expect(entry).toMatchObject({ rev: c2, phase: "failed", outcome: "failed", truncated: false });
      expect(entry.text).toMatch(/^\$ nix build --no-eval-cache --no-link --json .* \(exit 1\)$/m);
      expect(entry.text).toContain(`failing the build of ${w.host} on purpose`);
      expect(entry.text).toContain("connecting to db with password ***");
      expect(entry.text).not.toContain(value);
      expect(entry.text).not.toContain(b64.slice(0, 12));

      // The earlier, successful deploy left its tails too (build, activation).
      const all = (await api<HostLogs>(ctl.url, `/api/v1/hosts/${w.host}/logs?limit=50`)).body.entries;
      expect(all.map((e) => e.step)).toEqual(expect.arrayContaining(["build", "activate"]));

      const shown = await cli(["logs", w.host, "--controller", ctl.url, "--token", OPERATOR_TOKEN, "--rev", c2.slice(0, 10)]);
      expect(shown.code, shown.err).toBe(0);
      expect(shown.out).toContain(`failing the build of ${w.host} on purpose`);
      expect(shown.out).toContain("password ***");
      expect(shown.out).not.toContain(value);

      // Nowhere on disk in plaintext: not in the agent's state dir (state, outbox), not in the controller's database.
      const db = ctl.config.database.replace(/^sqlite:/, "");
      for (const f of [...filesUnder(w.stateDir).filter((f) => !f.includes(`${join(w.stateDir, "cache")}`) && !f.includes("/checkouts/")), db, `${db}-wal`]) {
        const bytes = statSync(f, { throwIfNoEntry: false }) ? readFileSync(f) : Buffer.alloc(0);
        expect(bytes.includes(Buffer.from(value)), f).toBe(false);
        expect(bytes.includes(Buffer.from(b64.slice(0, 12))), f).toBe(false);
      }
    } finally {
      await ctl.stop();
      await w.close();
    }
  }, 240_000);

  it("an output tail too large for the controller's body limit (413) is cut from the front and delivered", async () => {
    await buildAgent();
    const w = await World.create();
    const ctl = await startTestController({ repo: w.repo, pollInterval: "1s", extra: { limits: { maxBodyBytes: 4096 } } });
    try {
      await w.writeConfig({ controller: ctl.url });
      const hook = { command: ["sh", "-c", "seq -f 'pre-deploy output line %g' 1 3000; echo 'hook: migration failed' >&2; exit 1"] };
      const c1 = await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: w.host, hooks: { preDeploy: hook } }] }) }, "c1 with a failing hook");
      await controllerAt(ctl, c1, w.host);
      const r = await onceProcess(w);
      expect(r.code, r.output).toBe(1);
      const entry = await waitFor("the hook's tail at the controller", async () => {
        const res = await api<HostLogs>(ctl.url, `/api/v1/hosts/${w.host}/logs?rev=${c1}`);
        return res.body.entries?.find((e) => e.step === "preDeploy");
      }, 60_000).catch(async (e) => {
        throw new Error(`${(e as Error).message}; agent: ${r.output.slice(-3000)}; controller: ${ctl.log.lines.slice(-20).join("\n")}`);
      });
      expect(entry.truncated).toBe(true);
      expect(entry.text).toMatch(/^\[… truncated by flotilla-agent: last \d+ of \d+ characters kept\]\n/);
      expect(entry.text.endsWith("hook: migration failed")).toBe(true);
      expect(entry.text).toContain("pre-deploy output line 3000");
      expect(Buffer.byteLength(entry.text)).toBeLessThan(4096);
      // Nothing was set aside: the refusal was repaired, not given up on.
      expect(readdirSync(join(w.stateDir, "outbox")).includes("rejected") ? readdirSync(join(w.stateDir, "outbox", "rejected")) : []).toEqual([]);
    } finally {
      await ctl.stop();
      await w.close();
    }
  }, 240_000);
});
