// Shared by the build-once tests (build-once.test.ts, plan-closures.test.ts,
// controller-builder.test.ts): real Nix signing keys and ssh-keygen builder
// keys, a fleet with a delivery section, the built `flotilla build`, and
// deleting a path from the store so an agent has to substitute it.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { expect } from "vitest";
import { ReleaseManifest, SignedRelease } from "../../../schemas/src/release.js";
import { nixEnv } from "../../helpers/nix-env.js";
import { makeTempDir } from "../../helpers/tmp.js";
import { makeKey, REPO_ROOT, type World } from "./helpers.js";

export const BIN = join(REPO_ROOT, "bin", "flotilla.js");

export interface ReleaseKeys {
  dir: string;
  /** Nix secret signing key file and its public half. */
  secret: string;
  publicKey: string;
  builder: { path: string; pub: string };
  forger: { path: string; pub: string };
}

export async function nixKeys(dir: string, name: string): Promise<{ secret: string; publicKey: string }> {
  const secret = join(dir, `${name}.sec`);
  const s = await execa("nix", ["key", "generate-secret", "--key-name", name], { env: nixEnv(), extendEnv: false });
  await writeFile(secret, s.stdout);
  const p = await execa("nix", ["key", "convert-secret-to-public"], { env: nixEnv(), extendEnv: false, input: s.stdout });
  return { secret, publicKey: p.stdout.trim() };
}

export async function releaseKeys(): Promise<ReleaseKeys> {
  const dir = await makeTempDir("flotilla-keys-");
  const nk = await nixKeys(dir, "flotilla-test-cache-1");
  return { dir, secret: nk.secret, publicKey: nk.publicKey, builder: makeKey(dir, "builder"), forger: makeKey(dir, "forger") };
}

export function fleetWith(w: World, delivery: Record<string, unknown>): string {
  const f = JSON.parse(w.fleet()) as Record<string, unknown>;
  return JSON.stringify({ ...f, delivery }, null, 2);
}

export function substituteDelivery(keys: ReleaseKeys, caches: string[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode: "substitute",
    wait: "1s",
    caches: caches.map((url) => ({ url, publicKey: keys.publicKey })),
    builders: [{ name: "ci", key: keys.builder.pub }],
    ...extra,
  };
}

/** Runs the built `flotilla build --json` for `rev`; expects success. */
export async function flotillaBuild(keys: ReleaseKeys, w: World, rev: string, caches: string[], extra: string[] = []) {
  const r = await execa(process.execPath, [BIN, "build", w.repo.dir, "--rev", rev, ...caches.flatMap((c) => ["--cache", c]), "--signing-key", keys.secret, "--builder-key", keys.builder.path, "--builder-name", "ci", "--json", ...extra], {
    env: nixEnv(),
    extendEnv: false,
    reject: false,
  });
  expect(r.exitCode, r.stderr).toBe(0);
  const signed = SignedRelease.parse(JSON.parse(r.stdout));
  const manifest = ReleaseManifest.parse(JSON.parse(signed.payload));
  return { manifest, stderr: r.stderr, out: manifest.hosts[w.host]!.outPath };
}

export async function deleteFromStore(path: string): Promise<void> {
  const r = await execa("nix", ["store", "delete", path], { env: nixEnv(), extendEnv: false, reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  const gone = await execa("nix", ["path-info", path], { env: nixEnv(), extendEnv: false, reject: false });
  expect(gone.exitCode).not.toBe(0);
}
