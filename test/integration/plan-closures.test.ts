// `flotilla plan --closures` on real Nix: per host, the closure diff between
// what it runs now and what REV would run. "Now" comes from a real controller
// (a signed report of the generation the host runs), else from the release of
// REV's parent, else it says unknown; "would run" is REV's release, or the
// system built here when there is none; a path missing from the store is
// fetched from the fleet's file:// cache with signatures required.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { execa } from "execa";
import { loadHostSigner } from "../../common/src/signing.js";
import { nixEnv } from "../helpers/nix-env.js";
import { freePort } from "../helpers/free-port.js";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";
import { World } from "./agent/helpers.js";
import { BIN, deleteFromStore, fleetWith, flotillaBuild, releaseKeys, substituteDelivery, type ReleaseKeys } from "./agent/release-helpers.js";
import { OPERATOR_TOKEN, SimAgent, startTestController, waitFor, api } from "./controller/harness.js";
import type { StatusReport } from "../../schemas/src/api.js";

interface Side {
  path: string | null;
  source: string;
}
interface Row {
  host: string;
  from: Side;
  to: Side;
  diff: { diff: string; fromSize: number; toSize: number; sizeDelta: number } | null;
  note?: string;
}

let keys: ReleaseKeys;
let w: World;
beforeAll(async () => {
  keys = await releaseKeys();
  w = await World.create();
});
afterAll(async () => {
  await w.close();
  await cleanupTempDirs();
});

async function plan(rev: string, controller: string, extra: string[] = []) {
  const r = await execa(process.execPath, [BIN, "plan", w.repo.dir, "--rev", rev, "--closures", "--controller", controller, ...extra], { env: nixEnv({ FLOTILLA_TOKEN: undefined }), extendEnv: false, reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  return r;
}
const json = async (rev: string, controller: string, extra: string[] = []) => (JSON.parse((await plan(rev, controller, ["--json", ...extra])).stdout) as { closures: Row[] }).closures;

describe("flotilla plan --closures", () => {
  it("diffs what the host runs now against what REV would run, from the controller, releases or a local build", async () => {
    const cacheDir = join(await makeTempDir("flotilla-cache-"), "cache");
    const cache = `file://${cacheDir}`;
    const c1 = await w.commit({ "fleet.yaml": fleetWith(w, substituteDelivery(keys, [cache])) }, "c1");
    const b1 = await flotillaBuild(keys, w, c1, [cache]);
    const c2 = await w.commit({ "notes.txt": "2" }, "c2");
    const b2 = await flotillaBuild(keys, w, c2, [cache]);
    const nowhere = `http://127.0.0.1:${await freePort()}`;

    // No controller: the release of REV's parent vs REV's release, with sizes.
    let rows = await json(c2, nowhere);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      host: w.host,
      from: { path: b1.out, source: expect.stringMatching(new RegExp(`^release of ${c1.slice(0, 12)} \\(what the fleet at REV's parent .*the controller is not reachable \\(cannot reach the controller`)) },
      to: { path: b2.out, source: `release of ${c2.slice(0, 12)}` },
      diff: { diff: expect.stringMatching(/^nixos-system-canary: \S+ → \S+$/), fromSize: b1.manifest.hosts[w.host]!.closureSize, toSize: b2.manifest.hosts[w.host]!.closureSize },
    });
    const text = (await plan(c2, nowhere)).stdout;
    expect(text).toContain(`closures: what each host runs now → what ${c2.slice(0, 12)} would run`);
    expect(text).toMatch(new RegExp(`^${w.host}: ${b1.out} \\(release of ${c1.slice(0, 12)}`, "m"));
    expect(text).toMatch(/^  closure \d+(\.\d)? (B|KiB|MiB) → \d+(\.\d)? (B|KiB|MiB) \((\+|-|±)/m);
    expect(text).toMatch(/^  nixos-system-canary: \S+ → \S+$/m);

    // The parent's system is no longer in the store: fetched from the fleet's cache (signed).
    await deleteFromStore(b1.out);
    rows = await json(c2, nowhere);
    expect(rows[0]!.from.path).toBe(b1.out);
    expect(rows[0]!.diff).not.toBeNull();

    // No release of REV: built here.
    const c3 = await w.commit({ "notes.txt": "3" }, "c3: not built by CI");
    rows = await json(c3, nowhere);
    expect(rows[0]).toMatchObject({ from: { path: b2.out }, to: { path: await w.build(c3), source: `built here at ${c3.slice(0, 12)}` } });

    // A reachable controller with no report of the host: unknown, and why.
    const ctl = await startTestController({ repo: w.repo });
    try {
      rows = await json(c3, ctl.url, ["--token", OPERATOR_TOKEN]);
      expect(rows[0]).toMatchObject({ from: { path: null }, diff: null, note: `unknown: the controller has no report of what ${w.host} runs` });

      // The host reports (signed) that it runs c1's system: that is "now", not REV's parent.
      const agent = new SimAgent(await loadHostSigner(w.host, w.hostKey.path), ctl.url);
      const now = new Date();
      const sent = await agent.send(
        agent.event({ phase: "activating", outcome: "started", rev: c1, generation: b1.out, reason: "Progressing" }, now),
        agent.event({ phase: "done", outcome: "succeeded", rev: c1, generation: b1.out, health: [{ check: "http:health", ok: true, time: now.toISOString(), rev: c1, generation: b1.out }] }, now),
      );
      expect(sent.status).toBe(200);
      await waitFor(async () => (await api<StatusReport>(ctl.url, "/api/v1/status", { token: OPERATOR_TOKEN })).body.hosts.find((h) => h.host === w.host)?.generation === b1.out, "the host's generation in status");
      rows = await json(c3, ctl.url, ["--token", OPERATOR_TOKEN]);
      expect(rows[0]).toMatchObject({ from: { path: b1.out, source: `running ${c1.slice(0, 12)} (the controller's status)` }, to: { source: `built here at ${c3.slice(0, 12)}` } });
      expect(rows[0]!.diff!.diff).toMatch(/^nixos-system-canary: \S+ → \S+$/);
    } finally {
      await ctl.stop();
    }
  }, 300_000); // four plans, two releases and a local build on real nix

  it("--controller without --closures is a usage error", async () => {
    const r = await execa(process.execPath, [BIN, "plan", w.repo.dir, "--controller", "http://x"], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--controller and --token only go with --closures/);
  });
});
