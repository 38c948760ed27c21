// Build once, substitute everywhere, on real nix: `flotilla build` (the built
// CLI) builds the offline test fleet, signs with a real Nix key, copies to a
// real file:// cache and a real HTTP cache on 127.0.0.1, and stores a signed
// release under refs/flotilla/releases/<rev>; an agent whose store no longer
// holds the path (deleted with `nix store delete`) substitutes it, or refuses
// with its reason and leaves the running generation alone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdir, readFile, writeFile, mkdir } from "node:fs/promises";
import { join, basename } from "node:path";
import { execa } from "execa";
import { signRelease } from "../../common/src/release/manifest.js";
import { readRelease, writeRelease } from "../../common/src/release/refs.js";
import { ed25519FromOpenSsh } from "../../common/src/signing.js";
import { createLogger } from "../../common/src/log.js";
import { SignedRelease, ReleaseManifest } from "../../schemas/src/release.js";
import { startCacheServer, type CacheServer } from "../helpers/nix-cache-server.js";
import { nixEnv } from "../helpers/nix-env.js";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";
import { makeBareRemote } from "../helpers/git-repo.js";
import { World } from "./agent/helpers.js";
import { BIN, deleteFromStore, fleetWith, flotillaBuild as flotillaBuild_, releaseKeys, substituteDelivery as substituteDelivery_, type ReleaseKeys } from "./agent/release-helpers.js";

const log = createLogger({ component: "test", level: "error" });

let keys: ReleaseKeys;

beforeAll(async () => {
  keys = await releaseKeys();
});

afterAll(async () => {
  await cleanupTempDirs();
});

const substituteDelivery = (caches: string[], extra: Record<string, unknown> = {}) => substituteDelivery_(keys, caches, extra);
const flotillaBuild = (w: World, rev: string, caches: string[], extra: string[] = []) => flotillaBuild_(keys, w, rev, caches, extra);

function ranNixEvalOrBuild(agentLog: string): boolean {
  return /ran cmd="nix (build|eval)|ran cmd="nixos-rebuild/.test(agentLog);
}

async function narinfo(cacheDir: string, out: string): Promise<string> {
  return join(cacheDir, `${basename(out).slice(0, 32)}.narinfo`);
}

/** Asserts a refused substitution: exit 1, failed with `reason`, the running generation untouched. */
async function expectRefused(w: World, rev: string, reason: string, gen: string, match?: RegExp) {
  const r = await w.once();
  expect(r.code, r.err).toBe(1);
  const s = await w.state();
  expect(s.cycle.phase).toBe("failed");
  const err = (s.cycle as { error: { reason: string; message: string } }).error;
  expect(err.reason, err.message).toBe(reason);
  if (match) expect(err.message).toMatch(match);
  expect(await w.activeGeneration()).toBe(gen);
  expect((await w.calls()).filter((c) => c.revision === rev)).toEqual([]);
  expect(s.failedRevs.map((f) => f.rev)).toContain(rev);
  expect(ranNixEvalOrBuild(r.err)).toBe(false);
  // No retry loop: the next cycle skips the failed revision.
  const again = await w.once();
  expect(again.err).not.toMatch(/ran cmd="nix copy/);
  return r;
}

describe("build once, substitute everywhere (file:// cache)", () => {
  let w: World;
  let cacheDir: string;
  let gen1: string;

  beforeAll(async () => {
    w = await World.create();
    cacheDir = join(await makeTempDir("flotilla-cache-"), "cache");
  });
  afterAll(async () => {
    await w.close();
  });

  it("flotilla build signs and publishes; an agent that never evaluates or builds substitutes and activates the release", async () => {
    const c1 = await w.commit({ "fleet.yaml": fleetWith(w, substituteDelivery([`file://${cacheDir}`])) }, "c1: substitute");
    const { manifest, stderr, out } = await flotillaBuild(w, c1, [`file://${cacheDir}`]);
    expect(stderr).toMatch(/\[1\/1\] canary-1: done \/nix\/store\/\S+ \(\d+\.\ds\)/);
    expect(manifest).toMatchObject({ rev: c1, builder: { name: "ci" }, hosts: { [w.host]: { kind: "nixos", outPath: out, generation: out } } });
    expect(manifest.hosts[w.host]!.closureSize).toBeGreaterThan(0);
    expect(manifest.builder.key).toBe(keys.builder.pub.split(" ").slice(0, 2).join(" "));
    expect(await readFile(await narinfo(cacheDir, out), "utf8")).toMatch(/^Sig: flotilla-test-cache-1:/m);
    expect(await readRelease({ gitDir: join(w.repo.dir, ".git"), rev: c1, log })).toContain('"sig"');
    await deleteFromStore(out);

    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect(ranNixEvalOrBuild(r.err)).toBe(false);
    expect(r.err).toMatch(/ran cmd="nix copy --from file:\/\/\S+ --option require-sigs true/);
    gen1 = (await w.activeGeneration())!;
    expect(gen1).toBe(out);
    expect((await w.calls()).map((c) => [c.revision, c.operation, c.status])).toEqual([[c1, "switch", "ok"]]);
    const s = await w.state();
    expect(s.cycle.phase).toBe("done");
    expect(s.current).toEqual({ rev: c1, generation: out });
  });

  it("refuses when no manifest appears within delivery.wait (substitute): ReleaseMissing, nothing built", async () => {
    const c2 = await w.commit({ "notes.txt": "2" }, "c2: never built");
    await expectRefused(w, c2, "ReleaseMissing", gen1, /no release manifest for .* appeared within 1s/);
  });

  it("refuses a stale manifest (another revision's, under this revision's ref): ReleaseMismatch", async () => {
    const c3 = await w.commit({ "notes.txt": "3" }, "c3: stale manifest");
    const gitDir = join(w.repo.dir, ".git");
    const c1 = (await w.state()).current!.rev;
    const old = await readRelease({ gitDir, rev: c1, log });
    await writeRelease({ gitDir, rev: c3, text: old!, log });
    await expectRefused(w, c3, "ReleaseMismatch", gen1, /is for revision .*, not /);
  });

  it("refuses a manifest signed by a key that is not a builder, even one the same commit adds: ReleaseUntrusted", async () => {
    const forger = ed25519FromOpenSsh(await readFile(keys.forger.path), "forger");
    const forge = async (rev: string) => {
      const gitDir = join(w.repo.dir, ".git");
      const real = SignedRelease.parse(JSON.parse((await readRelease({ gitDir, rev: (await w.state()).current!.rev, log }))!));
      const m = ReleaseManifest.parse(JSON.parse(real.payload));
      const forged = signRelease({ ...m, rev, builder: { name: "ci", key: forger.publicKeyLine } }, forger);
      await writeRelease({ gitDir, rev, text: JSON.stringify(forged), log });
    };
    const c4 = await w.commit({ "notes.txt": "4" }, "c4: forged");
    await forge(c4);
    await expectRefused(w, c4, "ReleaseUntrusted", gen1, /not one of delivery\.builders/);

    // A commit that lists the forger as a builder cannot vouch for its own manifest:
    // builders come from the last trusted fleet file.
    const d = substituteDelivery([`file://${cacheDir}`]);
    const c5 = await w.commit(
      { "fleet.yaml": fleetWith(w, { ...d, builders: [...(d.builders as unknown[]), { name: "forger", key: keys.forger.pub }] }) },
      "c5: forger adds itself",
    );
    await forge(c5);
    await expectRefused(w, c5, "ReleaseUntrusted", gen1, /not one of delivery\.builders \(ci\)/);

    // A tampered payload under a real builder signature.
    const c6 = await w.commit({ "notes.txt": "6" }, "c6: tampered payload");
    const gitDir = join(w.repo.dir, ".git");
    const real = SignedRelease.parse(JSON.parse((await readRelease({ gitDir, rev: (await w.state()).current!.rev, log }))!));
    await writeRelease({ gitDir, rev: c6, text: JSON.stringify({ ...real, payload: real.payload.replace((await w.state()).current!.rev, c6) }), log });
    await expectRefused(w, c6, "ReleaseUntrusted", gen1, /signature does not verify/);
  });

  it("refuses a tampered or unsigned narinfo: NarinfoUntrusted", async () => {
    const c7 = await w.commit({ "notes.txt": "7" }, "c7: tampered narinfo");
    const b7 = await flotillaBuild(w, c7, [`file://${cacheDir}`]);
    await deleteFromStore(b7.out);
    const f7 = await narinfo(cacheDir, b7.out);
    const text = await readFile(f7, "utf8");
    await writeFile(f7, text.replace(/^NarSize: (\d+)$/m, (_, n: string) => `NarSize: ${Number(n) + 1}`));
    await expectRefused(w, c7, "NarinfoUntrusted", gen1, /without a valid signature/);

    const c8 = await w.commit({ "notes.txt": "8" }, "c8: unsigned narinfo");
    const b8 = await flotillaBuild(w, c8, [`file://${cacheDir}`]);
    await deleteFromStore(b8.out);
    const f8 = await narinfo(cacheDir, b8.out);
    await writeFile(f8, (await readFile(f8, "utf8")).replace(/^Sig: .*\n/m, ""));
    await expectRefused(w, c8, "NarinfoUntrusted", gen1);
  });

  it("refuses when the cache does not have the path: CachePathMissing", async () => {
    const c9 = await w.commit({ "notes.txt": "9" }, "c9: pushed elsewhere");
    const elsewhere = join(await makeTempDir("flotilla-cache-"), "other");
    const b9 = await flotillaBuild(w, c9, [`file://${elsewhere}`]);
    await deleteFromStore(b9.out);
    await expectRefused(w, c9, "CachePathMissing", gen1, /no cache has/);
  });

  it("substitute-or-build builds itself when the release does not come", async () => {
    const c10 = await w.commit({ "fleet.yaml": fleetWith(w, substituteDelivery([`file://${cacheDir}`], { mode: "substitute-or-build" })) }, "c10: fallback");
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/ran cmd="nix build/);
    expect(await w.activeGeneration()).toBe(await w.build(c10));
  });
});

describe("build once over an HTTP binary cache", () => {
  let w: World;
  let server: CacheServer;

  beforeAll(async () => {
    w = await World.create();
    server = await startCacheServer(join(await makeTempDir("flotilla-http-cache-"), "cache"));
  });
  afterAll(async () => {
    await server.close().catch(() => {});
    await w.close();
  });

  it("copies to and substitutes from http://127.0.0.1; refuses with CacheUnreachable when the cache is down", async () => {
    const c1 = await w.commit({ "fleet.yaml": fleetWith(w, substituteDelivery([server.url])) }, "c1: http cache");
    const b1 = await flotillaBuild(w, c1, [server.url]);
    expect(server.requests.some((r) => /^PUT \/\w{32}\.narinfo 200$/.test(r))).toBe(true);
    await deleteFromStore(b1.out);
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect(ranNixEvalOrBuild(r.err)).toBe(false);
    expect(await w.activeGeneration()).toBe(b1.out);
    // The agent downloaded the NAR over HTTP (its narinfo may come from nix's local narinfo cache).
    expect(server.requests.some((q) => /^GET \/nar\/\w+\.nar(\.xz)? 200$/.test(q))).toBe(true);

    const c2 = await w.commit({ "notes.txt": "2" }, "c2: cache down");
    const side = join(await makeTempDir("flotilla-cache-"), "side");
    await mkdir(side, { recursive: true });
    const b2 = await flotillaBuild(w, c2, [`file://${side}`]);
    await deleteFromStore(b2.out);
    await server.close();
    await expectRefused(w, c2, "CacheUnreachable", b1.out, /no cache answered/);
    expect(await readdir(side)).toContain("nix-cache-info");
  });
});

describe("publishing to the remote agents poll, and legacy hosts", () => {
  it("--publish pushes the release ref to the remote; a legacy host substitutes its app's closure from there", async () => {
    const w = await World.create({ kind: "legacy" });
    const cacheDir = join(await makeTempDir("flotilla-cache-"), "cache");
    const fleet = (): string => {
      const f = JSON.parse(w.fleet({ hosts: [{ name: w.host, kind: "legacy" }, { name: "canary-1" }] })) as Record<string, unknown>;
      return JSON.stringify({ ...f, delivery: { ...substituteDelivery([`file://${cacheDir}`]), overrides: [{ on: ["canary-1"], mode: "build" }] } });
    };
    const c1 = await w.commit({ "fleet.yaml": fleet() }, "c1: legacy substitutes");
    const remote = await makeBareRemote(w.repo);
    await w.writeConfig({ ...w.config, remotes: [remote.url] });
    const { manifest, out } = await flotillaBuild(w, c1, [`file://${cacheDir}`], ["--publish", "--remote", remote.url]);
    // Every host of the fleet is built, whatever its own delivery mode.
    expect(Object.keys(manifest.hosts).sort()).toEqual(["canary-1", "legacy-1"]);
    const legacy = manifest.hosts["legacy-1"]!;
    expect(legacy).toMatchObject({ kind: "legacy", attribute: "apps.x86_64-linux.build-legacy.program" });
    expect(legacy.generation).toBe(`${out}/bin/build-legacy`);
    const ls = await execa("git", ["ls-remote", remote.url, `refs/flotilla/releases/${c1}`]);
    expect(ls.stdout).toMatch(new RegExp(`^[0-9a-f]{40}\trefs/flotilla/releases/${c1}$`));
    await deleteFromStore(out);

    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toMatch(/ran cmd="nix build/);
    expect(r.err).toMatch(/ran cmd="nix copy --from file:/);
    // The substituted program runs as it is: no evaluation of the flake, no nix run, nothing built.
    expect(ranNixEvalOrBuild(r.err)).toBe(false);
    expect(r.err).not.toMatch(/ran cmd="[^"]*nix (run|eval)|ran cmd="nix-store --realise/);
    expect((await w.state()).current).toEqual({ rev: c1, generation: legacy.generation });
    expect((await w.calls()).map((c) => [c.host, c.operation, c.revision, c.outPath])).toEqual([["legacy-1", "build-legacy", c1, out]]);
    await w.close();
  });
});

describe("flotilla releases", () => {
  it("shows per commit whether a release is built, missing or untrusted, who waits for it, and diffs closures between releases", async () => {
    const w = await World.create();
    const cacheDir = join(await makeTempDir("flotilla-cache-"), "cache");
    const c1 = await w.commit({ "fleet.yaml": fleetWith(w, substituteDelivery([`file://${cacheDir}`])) }, "c1");
    const b1 = await flotillaBuild(w, c1, [`file://${cacheDir}`]);
    const c2 = await w.commit({ "notes.txt": "2" }, "c2");
    const b2 = await flotillaBuild(w, c2, [`file://${cacheDir}`]);
    const c3 = await w.commit({ "notes.txt": "3" }, "c3");
    const cli = (args: string[]) => execa(process.execPath, [BIN, "releases", w.repo.dir, ...args], { env: nixEnv(), extendEnv: false, reject: false });

    const r = await cli(["--json", "--closures", "--rev", c2]);
    expect(r.exitCode, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { releases: Array<{ rev: string; status: string; builder?: string; substituting: string[] }>; closures: Array<{ host: string; from: string; to: string; diff: string }> };
    expect(doc.releases.map((x) => [x.rev, x.status, x.builder])).toEqual([
      [c2, "built", "ci"],
      [c1, "built", "ci"],
      [await w.repo.git(["rev-parse", `${c1}^`]), "missing", undefined], // the template's commit, no fleet.yaml yet
    ]);
    expect(doc.closures).toEqual([
      { host: w.host, from: b1.out, to: b2.out, diff: expect.stringMatching(/^nixos-system-canary: \S+ → \S+$/), fromSize: b1.manifest.hosts[w.host]!.closureSize, toSize: b2.manifest.hosts[w.host]!.closureSize, sizeDelta: expect.any(Number) },
    ]);

    const withSizes = await cli(["--closures", "--rev", c2]);
    expect(withSizes.stdout).toMatch(/^  closure \d+(\.\d)? (B|KiB|MiB) → \d+(\.\d)? (B|KiB|MiB) \((\+|-|±)/m);
    const text = await cli([]);
    expect(text.stdout.split("\n")[0]).toBe(`${c3.slice(0, 12)}  missing    c3; waiting for it: ${w.host}`);
    expect(text.stdout).toMatch(new RegExp(`^${c2.slice(0, 12)}  built      c2 by ci at \\S+ \\(1 host\\(s\\)\\)$`, "m"));
    await w.close();
  });
});
