/**
 * Controller as builder (controller.yaml `builder`, issue 11 item 4) on real
 * Nix: a real controller follows the fleet repo (the offline test flake) and
 * on each new head builds every host, signs with a real Nix key, copies to a
 * real HTTP binary cache on 127.0.0.1 and pushes the release ref signed with
 * a real ssh-keygen builder key. Status, the text status and the GitHub
 * commit status (a local fake at the network boundary) say building / built /
 * failed; a newer head kills the older build's process group and nothing of
 * it is published; the substitute-only canary's gate opens only once the
 * release is published.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execa } from "execa";
import { join } from "node:path";
import type { StatusReport } from "../../schemas/src/api.js";
import { ReleaseManifest, SignedRelease } from "../../schemas/src/release.js";
import { loadHostSigner } from "../../common/src/signing.js";
import { startCacheServer, type CacheServer } from "../helpers/nix-cache-server.js";
import { nixEnv } from "../helpers/nix-env.js";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";
import { World } from "./agent/helpers.js";
import { releaseKeys, substituteDelivery, type ReleaseKeys } from "./agent/release-helpers.js";
import { startFakeGitHub, type FakeGitHub } from "./controller/fake-github.js";
import { api, SimAgent, startTestController, waitFor } from "./controller/harness.js";

let keys: ReleaseKeys;
let w: World;
let cache: CacheServer;
let gh: FakeGitHub;
let ctl: Awaited<ReturnType<typeof startTestController>>;
let canary: SimAgent;

beforeAll(async () => {
  keys = await releaseKeys();
  w = await World.create();
  cache = await startCacheServer(join(await makeTempDir("flotilla-http-cache-"), "cache"));
  gh = await startFakeGitHub({ repo: "acme/fleet", branchHead: () => w.repo.head() });
  canary = new SimAgent(await loadHostSigner(w.host, w.hostKey.path), "");
});
afterAll(async () => {
  await ctl?.stop();
  await gh?.close();
  await cache?.close();
  await w?.close();
  await cleanupTempDirs();
});

const rollout = async (rev: string) => (await api<StatusReport>(ctl.url, "/api/v1/status")).body.rollouts.find((r) => r.rev === rev);
const remoteRelease = async (rev: string) => (await execa("git", ["-C", w.repo.dir, "ls-remote", ".", `refs/flotilla/releases/${rev}`])).stdout.trim();
async function sleepers(seconds: number): Promise<string[]> {
  const r = await execa("pgrep", ["-f", `^sleep ${seconds}$`], { reject: false });
  return r.stdout.split("\n").filter(Boolean);
}

describe("controller as builder", () => {
  it("builds each new head, publishes it, and only then opens the substitute-only canary; status and GitHub say building → built", async () => {
    const fleet = JSON.stringify({ ...JSON.parse(w.fleet({ waves: [{ name: "canary", members: [w.host] }] })), delivery: substituteDelivery(keys, [cache.url]) }, null, 2);
    const c1 = await w.commit({ "fleet.yaml": fleet, "markers/canary-1/slow-build": "3\n" }, "c1: substitute, slow build");
    ctl = await startTestController({
      repo: w.repo,
      github: { apiUrl: gh.url },
      pollInterval: "200ms",
      builderEnv: nixEnv(),
      extra: { builder: { caches: [cache.url], signingKey: keys.secret, builderKey: keys.builder.path, name: "controller-ci", timeout: "5m" } },
    });
    canary.base = ctl.url;

    // Building: held, and said so everywhere.
    const building = await waitFor(async () => {
      const r = await rollout(c1);
      return r?.release?.state === "building" ? r : null;
    }, "release building in status");
    expect(building.release!.reason).toMatch(/^building since \d+s: 0\/1 hosts(, building canary-1)?$/);
    const g = await canary.gate(c1);
    expect(g.body).toMatchObject({ decision: "wait", wave: "canary" });
    expect(g.body.reason).toMatch(/the controller is building it/);
    expect((await api<string>(ctl.url, "/api/v1/status?format=text")).body).toMatch(/release building \(building since/);
    await waitFor(async () => gh.statuses.some((s) => s.sha === c1 && s.description.startsWith("release building; canary 0/1 healthy")), "a 'release building' commit status");

    // Built and published to the remote the agents poll, signed by the builder key, paths in the HTTP cache.
    await waitFor(async () => (await rollout(c1))?.release?.state === "built", "release built", 120_000);
    expect((await rollout(c1))!.release).toEqual({ state: "built", hosts: [w.host] });
    expect(await remoteRelease(c1)).toMatch(/^[0-9a-f]{40}\t/);
    const text = (await execa("git", ["-C", w.repo.dir, "cat-file", "blob", `refs/flotilla/releases/${c1}:release.json`])).stdout;
    const m = ReleaseManifest.parse(JSON.parse(SignedRelease.parse(JSON.parse(text)).payload));
    expect(m).toMatchObject({ rev: c1, builder: { name: "controller-ci", key: keys.builder.pub.split(" ").slice(0, 2).join(" ") }, caches: [cache.url] });
    expect(cache.requests.some((r) => /^PUT \/\w{32}\.narinfo 200$/.test(r))).toBe(true);
    const open = await waitFor(async () => {
      const x = await canary.gate(c1);
      return x.body.decision === "open" ? x : null;
    }, "the canary gate to open");
    expect(open.body.wave).toBe("canary");
    await waitFor(async () => gh.statuses.some((s) => s.sha === c1 && s.description === "canary 0/1 healthy"), "the plain rollout status once built");
    expect(ctl.log.lines.some((l) => /release build progress .*host=canary-1 stage=build/.test(l))).toBe(true);
    expect(ctl.log.lines.some((l) => /release built and published/.test(l))).toBe(true);
  });

  it("a newer head cancels the older build: its process group is killed and nothing of it is published", async () => {
    const c2 = await w.commit({ "markers/canary-1/slow-build": "97\n" }, "c2: very slow build");
    await ctl.follower.poke("test");
    await waitFor(async () => (await rollout(c2))?.release?.state === "building", "c2 building");
    await waitFor(async () => (await sleepers(97)).length > 0, "the build's sleep 97 to run", 60_000);

    const c3 = await w.commit({ "markers/canary-1/slow-build": null }, "c3: fast again");
    await ctl.follower.poke("test");
    await waitFor(async () => ctl.builder!.stateOf(c2)?.state === "cancelled", "c2's build cancelled");
    // At once: an evaluation cached while c2 was still building (the decision cache lives 1 s) must not outlive the build's end.
    expect((await rollout(c2))?.release).toMatchObject({ state: "missing", reason: `the controller's build was cancelled (superseded by ${c3.slice(0, 12)})` });
    expect(await sleepers(97)).toEqual([]);
    expect(ctl.log.lines.some((l) => /release build cancelled; nothing published .*rev=/.test(l) && l.includes(c2.slice(0, 12)))).toBe(true);
    await waitFor(async () => (await rollout(c3))?.release?.state === "built", "c3 built", 120_000);
    expect(await remoteRelease(c2)).toBe("");
    // On failure, say what the controller did meanwhile (builds, branch moves): a "building" c2 here was seen only in full runs.
    const story = () => ctl.log.lines.filter((l) => /release build|branch moved|cancell/.test(l)).join("\n");
    expect((await rollout(c2))?.release, story()).toMatchObject({ state: "missing", reason: `the controller's build was cancelled (superseded by ${c3.slice(0, 12)})` });
  });

  it("a failed build is 'failed' with the builder's error in status, the text status and a failing GitHub status; the canary stays held", async () => {
    const c4 = await w.commit({ "markers/canary-1/fail-build": "1\n" }, "c4: the build fails");
    await ctl.follower.poke("test");
    const r = await waitFor(async () => {
      const x = await rollout(c4);
      return x?.release?.state === "failed" ? x : null;
    }, "c4 failed", 120_000);
    expect(r.release!.reason).toMatch(/^host canary-1: nix build .* failed \(exit 1\):\n/);
    expect(r.release!.reason).toMatch(/failing the build of canary-1 on purpose/);
    expect(r.release!.reason!.length).toBeLessThanOrEqual(2000);
    expect((await api<string>(ctl.url, "/api/v1/status?format=text")).body).toMatch(/release failed \(canary-1: .+\)/);
    const g = await canary.gate(c4);
    expect(g.body.decision).toBe("wait");
    expect(g.body.reason).toMatch(/the controller's build failed: host canary-1/);
    const st = await waitFor(async () => gh.statuses.find((s) => s.sha === c4 && s.description.startsWith("release build failed: canary-1: ")), "a failing commit status");
    expect(st.state).toBe("failure");
    expect(st.description.length).toBeLessThanOrEqual(140);
    expect(await remoteRelease(c4)).toBe("");
    expect(ctl.log.lines.some((l) => /release build failed; nothing published/.test(l))).toBe(true);
  });
});
