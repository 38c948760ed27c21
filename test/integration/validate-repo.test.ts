// `flotilla validate` judges a fleet repo the way agents judge its commit:
// real git repos (signed with ssh-keygen keys, verified by the agent's code),
// real SOPS files encrypted to the hosts' age recipients, the real `nix eval`
// on the offline test fleet flake, and a PATH without nix.
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encryptSopsFile, hostRecipient } from "../../secrets/src/index.js";
import { makeFleetRepo } from "../helpers/git-repo.js";
import { NIX_CONFIG, requireTool } from "../helpers/nix-env.js";
import { makeTempDir } from "../helpers/tmp.js";
import { buildCli, type Cli } from "./cli-build.js";

async function keypair(name: string): Promise<{ priv: string; pub: string }> {
  const dir = await makeTempDir("flotilla-key-");
  const priv = join(dir, "k");
  await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", priv]);
  return { priv, pub: (await readFile(`${priv}.pub`, "utf8")).trim() };
}

const env = { NIX_CONFIG: `${NIX_CONFIG}\nwarn-dirty = false` };

describe("flotilla validate on a fleet repo (built CLI)", () => {
  let cli: Cli;
  let keys: Record<string, { priv: string; pub: string }>;
  beforeAll(async () => {
    cli = await buildCli();
    keys = {};
    for (const n of ["canary-1", "web-1", "alice", "mallory"]) keys[n] = await keypair(n);
  }, 180_000);
  afterAll(async () => cli?.cleanup());

  const fleet = (extra = "", hosts = ["canary-1", "web-1"]) =>
    `version: 1\n${extra}hosts:\n${hosts.map((h) => `  - name: ${h}\n    kind: nixos\n    hostKey: ${keys[h]?.pub ?? keys.mallory!.pub}\n`).join("")}`;
  const signing = () => `policy:\n  allowedSigners:\n    - principal: alice@example.com\n      key: ${keys.alice!.pub}\n`;

  it("accepts a commit signed by an allowed signer and refuses an unsigned one, at the allowedSigners line", async () => {
    const repo = await makeFleetRepo({ template: true, files: { "fleet.yaml": fleet(signing()) } });
    let r = await cli.run(["validate", repo.dir, "--no-eval"], { env });
    expect(r.stdout).toMatch(new RegExp(`^${repo.dir}/fleet\\.yaml:4:5  policy\\.allowedSigners  commit [0-9a-f]{12} \\(HEAD\\) has no valid signature by an allowed signer \\(the commit is not signed\\); agents refuse to deploy it`, "m"));
    expect(r.exitCode).toBe(1);

    await repo.git(["config", "gpg.format", "ssh"]);
    await repo.git(["config", "user.signingkey", keys.mallory!.priv]);
    await repo.git(["commit", "-q", "--allow-empty", "-S", "-m", "signed by mallory"]);
    r = await cli.run(["validate", repo.dir, "--no-eval"], { env });
    expect(r.stdout).toMatch(/policy\.allowedSigners  commit [0-9a-f]{12} \(HEAD\) has no valid signature by an allowed signer/);
    expect(r.exitCode).toBe(1);

    await repo.git(["config", "user.signingkey", keys.alice!.priv]);
    await repo.git(["commit", "-q", "--allow-empty", "-S", "-m", "signed by alice"]);
    r = await cli.run(["validate", repo.dir, "--no-eval"], { env });
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/note: HEAD [0-9a-f]{12} is signed by allowed signer alice@example\.com/);
    expect(r.stderr).toMatch(/valid: 2 hosts/);
    expect(r.exitCode).toBe(0);

    // A dirty fleet.yaml: the signature is of HEAD, and the output says so.
    await writeFile(join(repo.dir, "fleet.yaml"), fleet(signing()) + "# edited\n");
    r = await cli.run(["validate", repo.dir, "--no-eval"], { env });
    expect(r.stderr).toMatch(/note: fleet\.yaml has uncommitted changes: the signature was checked on HEAD [0-9a-f]{12}, which does not contain them/);
    expect(r.exitCode).toBe(0);
  }, 120_000);

  it("flotilla plan warns when policy.branch names a branch the repo does not have", async () => {
    const repo = await makeFleetRepo({ files: { "fleet.yaml": fleet("policy:\n  branch: production\n") } });
    const r = await cli.run(["plan", repo.dir, "--json"], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).warnings).toEqual([
      'policy.branch is "production", but this repo has no branch "production" (local or remote); agents follow the branch their configuration names and refuse a fleet.yaml whose policy.branch differs',
    ]);
    await repo.git(["branch", "production"]);
    expect(JSON.parse((await cli.run(["plan", repo.dir, "--json"], { env })).stdout).warnings).toEqual([]);
  }, 60_000);

  it("says that nothing was verified against git when DIR is not a git repository", async () => {
    const dir = await makeTempDir("flotilla-nogit-");
    await writeFile(join(dir, "fleet.yaml"), fleet(signing()));
    const r = await cli.run(["validate", dir, "--no-eval"], { env });
    expect(r.stderr).toMatch(/note: .* is not in a git repository: the commit signature and the committed sopsFiles were not checked/);
    expect(r.stderr).toMatch(/note: --no-eval: whether the flake defines every host was not checked/);
  });

  it("finds hosts the flake does not define with nix eval, and says so when nix is missing", async () => {
    requireTool("nix");
    const repo = await makeFleetRepo({ template: true, files: { "fleet.yaml": fleet("", ["canary-1", "web-1", "ghost"]) + "  - name: shop\n    kind: legacy\n    user: shop\n    app: no-such-app\n    hostKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKG+9/Nnz8pGhzKwd2ss+Bw2a+qha7ukjeERppQvoQgy shop\n" } });
    const r = await cli.run(["validate", repo.dir], { env });
    const lines = r.stdout.trim().split("\n");
    expect(lines).toEqual([
      `${repo.dir}/fleet.yaml:9:11  hosts[2].name  host "ghost": the flake has no nixosConfigurations.ghost; agents would fail to build it (add it to flake.nix, or set attribute)`,
      `${repo.dir}/fleet.yaml:15:10  hosts[3].app  host "shop": the flake has no apps.<system>.no-such-app for any system; the legacy agent would fail to run it`,
    ]);
    expect(r.stderr).toMatch(/note: nix eval: the flake defines 2 of 4 hosts/);
    expect(r.exitCode).toBe(1);

    // The same fleet without the two: valid, and the note says what eval checked.
    await repo.commit({ "fleet.yaml": fleet() });
    const ok = await cli.run(["validate", repo.dir], { env });
    expect(ok.stderr).toMatch(/note: nix eval: the flake defines 2 of 2 hosts/);
    expect(ok.exitCode, ok.stdout + ok.stderr).toBe(0);

    // No nix on PATH: a note, not silence (git stays available).
    const bin = await makeTempDir("flotilla-bin-");
    const gitPath = (await execa("sh", ["-c", "command -v git"])).stdout.trim();
    await symlink(gitPath, join(bin, "git"));
    const noNix = await cli.run(["validate", repo.dir], { env: { ...env, PATH: bin } });
    expect(noNix.stderr).toMatch(/note: nix is not installed \(no "nix" on PATH\): whether the flake defines every host was NOT checked/);
    expect(noNix.exitCode, noNix.stderr).toBe(0);
  }, 180_000);

  it("refuses sopsFiles that are missing, symlinks in git, or not encrypted to every receiving host", async () => {
    const toCanary = await encryptSopsFile(Buffer.from("token: s3cret-do-not-print-me\n"), { format: "yaml", recipients: [hostRecipient(keys["canary-1"]!.pub)] });
    const toBoth = await encryptSopsFile(Buffer.from("token: s3cret-do-not-print-me\n"), {
      format: "yaml",
      recipients: [hostRecipient(keys["canary-1"]!.pub), hostRecipient(keys["web-1"]!.pub)],
    });
    const secrets = `secrets:
  - name: a
    sopsFile: secrets/canary-only.yaml
    hosts: [canary-1, web-1]
  - name: b
    sopsFile: secrets/link.yaml
    hosts: [canary-1]
  - name: c
    sopsFile: secrets/missing.yaml
    hosts: [canary-1]
  - name: d
    sopsFile: secrets/both.yaml
    hosts: [canary-1, web-1]
`;
    const repo = await makeFleetRepo({
      files: { "fleet.yaml": fleet() + secrets, "secrets/canary-only.yaml": Buffer.from(toCanary).toString(), "secrets/both.yaml": Buffer.from(toBoth).toString() },
    });
    await symlink("both.yaml", join(repo.dir, "secrets", "link.yaml"));
    await repo.commit({}, "add a symlinked secret");
    const r = await cli.run(["validate", repo.dir, "--no-eval"], { env });
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(
      `${repo.dir}/fleet.yaml:11:15  secrets[0].sopsFile  sopsFile "secrets/canary-only.yaml" is not encrypted to host web-1 (${hostRecipient(keys["web-1"]!.pub)}), which receives secret "a"; that agent could not decrypt it. Run \`flotilla secrets updatekeys secrets/canary-only.yaml\``,
    );
    expect(lines[1]).toMatch(/:14:15  secrets\[1\]\.sopsFile  sopsFile "secrets\/link\.yaml" is committed as a symbolic link; agents read it from git/);
    expect(lines[2]).toMatch(/:17:15  secrets\[2\]\.sopsFile  sopsFile "secrets\/missing\.yaml" does not exist/);
    expect(r.stdout + r.stderr).not.toContain("s3cret");
    expect(r.exitCode).toBe(1);
  }, 120_000);
});
