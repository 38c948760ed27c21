// fleet-example/ is a repo users copy: it must validate, its Nix must parse
// (building needs the internet, so it is not built here), its schema comment
// must point at a file that travels with it, and `flotilla plan` must work on
// a git copy of it.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { execa } from "execa";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadFleetDir } from "../../common/src/fleet/load.js";
import { makeFleetRepo } from "../helpers/git-repo.js";
import { requireTool } from "../helpers/nix-env.js";
import { makeTempDir } from "../helpers/tmp.js";
import { buildCli, REPO_ROOT, type Cli } from "./cli-build.js";

const EXAMPLE = join(REPO_ROOT, "fleet-example");

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

describe("fleet-example", () => {
  let cli: Cli;
  beforeAll(async () => {
    cli = await buildCli();
  }, 180_000);
  afterAll(async () => cli?.cleanup());

  it("validates with no errors and no warnings", async () => {
    const r = await loadFleetDir(EXAMPLE);
    expect(r.issues).toEqual([]);
    expect(r.fleet!.hosts.map((h) => `${h.name}:${h.kind}:${h.wave}${h.pin ? ":pinned" : ""}`)).toEqual([
      "web-1:nixos:canary",
      "web-2:nixos:web",
      "db-1:nixos:rest:pinned",
      "shop-legacy:legacy:web",
    ]);
    const kinds = new Set(r.fleet!.hosts.flatMap((h) => h.checks.map((c) => c.type)));
    expect([...kinds].sort()).toEqual(["command", "http", "systemd", "tcp"]);
    expect(r.fleet!.hosts.find((h) => h.name === "shop-legacy")!.hooks.preDeploy!.command).toEqual(["nix", "run", ".#dump-db"]);
    // Build once: CI builds, web-2 only substitutes, shop-legacy falls back to building.
    expect(r.fleet!.delivery).toMatchObject({
      modes: { "web-1": "build", "web-2": "substitute", "db-1": "build", "shop-legacy": "substitute-or-build" },
      caches: [{ url: "https://cache.example.com" }],
      builders: [{ name: "github-actions" }],
    });
  });

  it("ships the CI workflow that builds and publishes releases: validate, build, push to the cache, publish", () => {
    const wf = parse(readFileSync(join(EXAMPLE, ".github/workflows/flotilla-build.yml"), "utf8")) as { jobs: { build: { steps: { name?: string; run?: string }[] } } };
    const runs = wf.jobs.build.steps.map((s) => s.run ?? "").join("\n");
    expect(runs).toMatch(/\$FLOTILLA validate \./);
    expect(runs).toMatch(/\$FLOTILLA plan \. --closures/);
    expect(runs).toMatch(/\$FLOTILLA build \. --rev "\$GITHUB_SHA" \\\n\s+--cache "s3:\/\/[^"]+" \\\n\s+--signing-key [^\n]+\n\s+--builder-key [^\n]+--builder-name github-actions \\\n\s+--publish --remote origin/);
  });

  it("a git copy validates as committed (the CLI, with the git and SOPS checks), and with signing turned on only once HEAD is signed", async () => {
    const files: Record<string, string> = {};
    for (const f of filesUnder(EXAMPLE)) files[relative(EXAMPLE, f)] = readFileSync(f, "utf8");
    const repo = await makeFleetRepo({ files });
    const plain = await cli.run(["validate", repo.dir, "--no-eval"]);
    expect(plain.stdout).toBe("");
    expect(plain.stderr).toMatch(/valid: 4 hosts, waves canary → web → rest/);
    expect(plain.exitCode).toBe(0);

    // Turn signing on as the comment in fleet.yaml says: an unsigned HEAD is refused, a signed one passes.
    const keyDir = await makeTempDir("flotilla-signer-");
    await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", join(keyDir, "k")]);
    const pub = readFileSync(join(keyDir, "k.pub"), "utf8").trim();
    const signed = files["fleet.yaml"]!.replace(/  # allowedSigners:\n  #   - principal: alice@example.com\n  #     key: .*\n/, `  allowedSigners:\n    - principal: alice@example.com\n      key: ${pub}\n`);
    expect(signed).not.toBe(files["fleet.yaml"]);
    await repo.commit({ "fleet.yaml": signed }, "require signed commits");
    const unsigned = await cli.run(["validate", repo.dir, "--no-eval"]);
    expect(unsigned.stdout).toMatch(/policy\.allowedSigners  commit [0-9a-f]{12} \(HEAD\) has no valid signature by an allowed signer/);
    expect(unsigned.exitCode).toBe(1);
    await repo.git(["config", "gpg.format", "ssh"]);
    await repo.git(["config", "user.signingkey", join(keyDir, "k")]);
    await repo.git(["commit", "-q", "--allow-empty", "-S", "-m", "signed"]);
    const ok = await cli.run(["validate", repo.dir, "--no-eval"]);
    expect(ok.stderr).toMatch(/note: HEAD [0-9a-f]{12} is signed by allowed signer alice@example\.com/);
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);
  }, 120_000);

  it("every .nix file parses (nix-instantiate --parse)", async () => {
    const nixInstantiate = requireTool("nix-instantiate");
    const nixFiles = filesUnder(EXAMPLE).filter((f) => f.endsWith(".nix"));
    expect(nixFiles.map((f) => relative(EXAMPLE, f))).toContain("flake.nix");
    for (const f of nixFiles) {
      const r = await execa(nixInstantiate, ["--parse", f], { reject: false });
      expect(r.exitCode, `${f}: ${r.stderr}`).toBe(0);
    }
  });

  it("declares the flake apps of the legacy interface and the three NixOS hosts", () => {
    const flake = readFileSync(join(EXAMPLE, "flake.nix"), "utf8");
    for (const app of ["setup", "build-legacy", "install", "dump-db"]) expect(flake).toMatch(new RegExp(`\\b${app} = app legacy\\.${app};`));
    for (const host of ["web-1", "web-2", "db-1"]) expect(flake).toContain(`${host} = mkHost "${host}"`);
    expect(flake).toMatch(/sops-nix\.nixosModules\.sops/);
  });

  it("points editors at a schema file inside the example", () => {
    const first = readFileSync(join(EXAMPLE, "fleet.yaml"), "utf8").split("\n")[0];
    expect(first).toBe("# yaml-language-server: $schema=./fleet.schema.json");
    expect(JSON.parse(readFileSync(join(EXAMPLE, "fleet.schema.json"), "utf8")).$id).toBe("https://flotilla.dev/schemas/fleet.schema.json");
  });

  it("ships its secrets as SOPS files, marked EXAMPLE ONLY", () => {
    expect(readFileSync(join(EXAMPLE, "secrets", "README.md"), "utf8")).toMatch(/^# EXAMPLE ONLY/);
    for (const f of filesUnder(join(EXAMPLE, "secrets")).filter((p) => !p.endsWith("README.md"))) {
      const text = readFileSync(f, "utf8");
      expect(text, f).toMatch(/ENC\[AES256_GCM,data:/);
      expect(text, f).toMatch(/sops_(version|mac)|\n\s*mac: ENC\[/);
      expect(text, f).not.toContain("EXAMPLE-ONLY-replace-me");
    }
  });

  it("flotilla plan on a git copy shows waves, the pin and the gate", async () => {
    const files: Record<string, string> = {};
    for (const f of filesUnder(EXAMPLE)) files[relative(EXAMPLE, f)] = readFileSync(f, "utf8");
    const repo = await makeFleetRepo({ files });
    const head = await repo.head();
    const r = await cli.run(["plan", repo.dir]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(`fleet.yaml at ${head.slice(0, 12)}`);
    expect(r.stdout).toMatch(/^web-1 +nixos +canary +\S{12} now \(first wave\)$/m);
    expect(r.stdout).toMatch(/^web-2 +nixos +web +\S{12} once wave "canary" is healthy \(gated by the controller\)$/m);
    expect(r.stdout).toMatch(/^db-1 +nixos +rest +pinned +pinned to 4f7c2a9e0b1d$/m);
    expect(r.stdout).toContain("changes (root commit):");
    expect(r.stdout).toContain("warning: db-1 is pinned to 4f7c2a9e0b1d3c5e7f9a2b4c6d8e0f1a3b5c7d9e, which is not a commit of this repo");

    await repo.commit({ "fleet.yaml": files["fleet.yaml"]!.replace("    pin: 4f7c2a9e0b1d3c5e7f9a2b4c6d8e0f1a3b5c7d9e\n", "") }, "unpin db-1");
    const json = await cli.run(["plan", repo.dir, "--json"]);
    expect(json.exitCode, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout);
    expect(doc.warnings).toEqual([]);
    expect(doc.diff.pins).toEqual([{ host: "db-1", before: "4f7c2a9e0b1d3c5e7f9a2b4c6d8e0f1a3b5c7d9e" }]);
    expect(doc.plan.hosts.find((h: { host: string }) => h.host === "db-1").target).toEqual({ kind: "gated", rev: await repo.head(), afterWave: "web" });

    const older = await cli.run(["plan", repo.dir, "--rev", head]);
    expect(older.stdout).toContain("pinned to 4f7c2a9e0b1d");
  });
});
