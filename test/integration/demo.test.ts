/**
 * The end-to-end demo (`npm run demo`) as a test: the orchestrator demo/main.ts
 * run the way scripts/demo.sh runs it (node --import tsx, demo.sh's NIX_CONFIG)
 * against the bin/ + dist/ that test/global-setup.ts builds once. A controller on SQLite and five agents run as real
 * processes on real git and nix; the demo exits 0 only when every act's
 * expected outcome was observed, each with its own (generous) deadline.
 */
import { rm } from "node:fs/promises";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
let root: string | null = null;

afterAll(async () => {
  if (root && process.env.FLOTILLA_KEEP_TMP !== "1") await rm(root, { recursive: true, force: true });
});

describe("npm run demo", () => {
  it("runs every act and exits 0 only after observing each expected outcome", async () => {
    const r = await execa(process.execPath, ["--import", "tsx", "demo/main.ts"], {
      cwd: REPO_ROOT,
      reject: false,
      all: true,
      timeout: 12 * 60_000,
      env: {
        NIX_CONFIG: "experimental-features = nix-command flakes\nsubstituters =\nwarn-dirty = false",
      },
    });
    const out = r.all ?? "";
    root = /everything lives under (\S+)/.exec(out)?.[1] ?? null;
    expect(r.exitCode, out).toBe(0);
    for (const line of [
      /Act 1 — initial rollout/,
      /every rolling host is healthy on C1; the rollout of C1 is complete/,
      /db-1 runs its pin C0, not the head C1/,
      /canary-1 activated C2 at .* before any web host started/,
      /the rotated token reached every rolling host/,
      /canary-1 +HEALTH CHECK FAILED on C3/,
      /canary-1 rolled back to C2's generation/,
      /the controller halted the rollout of C3/,
      /web-1 untouched: still on C2/,
      /web-2 untouched: still on C2/,
      /legacy-1 untouched: still on C2/,
      /every rolling host is healthy on C4; the rollout of C4 is complete/,
      /canary-1 activated C4 at .* before any web host started/,
      /db-1 still on C0/,
      /rollout [0-9a-f]{12}: HALTED/,
      /dashboard: http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/,
      /DEMO PASSED in/,
    ]) expect(out, out).toMatch(line);
    // Secret values never reach the output: only hashes, modes and names.
    expect(out).not.toMatch(/token: /);
    expect(root && existsSync(join(root, "status.md"))).toBe(true);
    expect(readFileSync(join(root!, "status.md"), "utf8")).toMatch(/\| canary-1 \| canary \|/);
    // No process outlives the demo without --keep.
    const stop = join(root!, "logs");
    expect(existsSync(stop)).toBe(true);
  }, 15 * 60_000);

  // `--hosts` itself (root, systemd-nspawn, ~2 min) runs outside the suite: docs/testing-hosts.md.
  it("refuses --keep with --hosts before it starts anything, and says why", async () => {
    const r = await execa(process.execPath, ["--import", "tsx", "demo/main.ts", "--hosts", "--keep"], { cwd: REPO_ROOT, reject: false, all: true, timeout: 60_000 });
    expect(r.exitCode, r.all).toBe(2);
    expect(r.stderr).toMatch(/--keep cannot be combined with --hosts: .*powered off and unmounted/);
    expect(r.all).not.toMatch(/Setup/);
  }, 90_000);
});
