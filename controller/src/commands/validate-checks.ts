/**
 * The checks of `flotilla validate` that need more than the fleet file: git
 * (is the commit signed as the fleet requires, are the sopsFiles committed as
 * files), SOPS (is every secret encrypted to every host that receives it) and
 * Nix (does the flake define every host). Each returns located issues, plus
 * notes that say what could not be checked and why, so that a green run never
 * hides a skipped check.
 */
import { lstat, readFile } from "node:fs/promises";
import { isAbsolute, join, resolve } from "node:path";
import { execa } from "execa";
import type { FleetFile } from "../../../schemas/src/fleet.js";
import { issueLocator, type LocatedIssue } from "../../../common/src/fleet/load.js";
import { resolveSelectors } from "../../../common/src/fleet/selectors.js";
import { GitMirror } from "../../../common/src/git/mirror.js";
import { createLogger } from "../../../common/src/log.js";
import { formatFromPath, hostRecipient, loadSopsRecipients } from "../../../secrets/src/index.js";

export interface CheckOutput {
  issues: LocatedIssue[];
  notes: string[];
}

type Locate = ReturnType<typeof issueLocator>;

async function git(cwd: string, args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  const r = await execa("git", args, { cwd, reject: false, stripFinalNewline: false, encoding: "utf8" });
  return { ok: r.exitCode === 0, out: String(r.stdout), err: String(r.stderr) };
}

/** The git facts about DIR: where its repo is, the HEAD commit, and which checked files differ from it. */
export interface RepoFacts {
  gitDir: string;
  head: string | null;
  /** Paths (relative to DIR) among the checked ones that are modified, staged or untracked. */
  dirty: string[];
  /** Paths (relative to DIR) that HEAD stores as symbolic links. */
  symlinksAtHead: Set<string>;
}

/**
 * Null with a note when DIR is not the root of a git work tree (agents read
 * fleet.yaml at the root of the fleet repo, so a sub-directory's commit says
 * nothing about what they would deploy).
 */
export async function repoFacts(dir: string, paths: string[], notes: string[]): Promise<RepoFacts | null> {
  const top = await git(dir, ["rev-parse", "--show-toplevel", "--absolute-git-dir"]);
  if (!top.ok) {
    notes.push(`${dir} is not in a git repository: the commit signature and the committed sopsFiles were not checked (agents deploy commits; run validate in a clone of the fleet repo)`);
    return null;
  }
  const [toplevel, gitDir] = top.out.trim().split("\n");
  if (resolve(toplevel!) !== resolve(dir)) {
    notes.push(`${dir} is not the root of its git repository (${toplevel}): agents read fleet.yaml at the root, so the commit signature and the committed sopsFiles were not checked`);
    return null;
  }
  const head = await git(dir, ["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
  const status = await git(dir, ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--", ...paths]);
  const dirty = status.out
    .split("\0")
    .filter(Boolean)
    .map((l) => l.slice(3));
  const symlinksAtHead = new Set<string>();
  if (head.ok) {
    const tree = await git(dir, ["ls-tree", "-z", "HEAD", "--", ...paths]);
    for (const entry of tree.out.split("\0").filter(Boolean)) {
      const [meta, path] = entry.split("\t");
      if (meta!.startsWith("120000 ")) symlinksAtHead.add(path!);
    }
  }
  return { gitDir: gitDir!, head: head.ok ? head.out.trim() : null, dirty, symlinksAtHead };
}

/**
 * When the fleet requires signed commits: is HEAD signed by an allowed signer?
 * Uses the agent's own verification (GitMirror.verifySignature).
 */
export async function checkSignature(file: FleetFile, repo: RepoFacts | null, at: Locate, notes: string[]): Promise<LocatedIssue[]> {
  const p = file.policy ?? {};
  const signers = p.allowedSigners ?? [];
  const required = p.requireSignedCommits ?? signers.length > 0;
  if (!required || signers.length === 0 || !repo) return [];
  if (!repo.head) {
    notes.push("the repository has no commit yet: the commit signature was not checked (agents deploy only commits signed by an allowed signer)");
    return [];
  }
  if (repo.dirty.includes("fleet.yaml")) {
    notes.push(`fleet.yaml has uncommitted changes: the signature was checked on HEAD ${repo.head.slice(0, 12)}, which does not contain them`);
  }
  const mirror = new GitMirror({ dir: repo.gitDir, remotes: [], branch: "HEAD", log: createLogger({ component: "validate", level: "error", write: () => {} }) });
  const check = await mirror.verifySignature(repo.head, signers);
  if (check.ok) {
    notes.push(`HEAD ${repo.head.slice(0, 12)} is signed by allowed signer ${check.signer ?? "(unknown principal)"}`);
    return [];
  }
  const path = p.allowedSigners ? ["policy", "allowedSigners"] : ["policy", "requireSignedCommits"];
  return [
    at(
      "error",
      path,
      `commit ${repo.head.slice(0, 12)} (HEAD) has no valid signature by an allowed signer (${check.detail}); agents refuse to deploy it. Sign commits with an allowed key (git config gpg.format ssh; git config user.signingkey <key>; git commit -S), or remove allowedSigners`,
    ),
  ];
}

/**
 * Every sopsFile is a regular file, committed as one (a symlink is stored by
 * git as the name it points to, which is what agents would read), readable as
 * SOPS, and encrypted to the age recipient of every host that receives it.
 */
export async function checkSops(dir: string, file: FleetFile, repo: RepoFacts | null, at: Locate): Promise<LocatedIssue[]> {
  const issues: LocatedIssue[] = [];
  const hosts = file.hosts.map((h) => ({ name: h.name, tags: h.tags ?? [] }));
  const keyOf = new Map(file.hosts.map((h) => [h.name, h.hostKey]));
  for (const [i, s] of (file.secrets ?? []).entries()) {
    if (isAbsolute(s.sopsFile) || s.sopsFile.split("/").includes("..")) continue; // a rule error already
    const where = ["secrets", i, "sopsFile"];
    if (repo?.symlinksAtHead.has(s.sopsFile)) {
      issues.push(at("error", where, `sopsFile "${s.sopsFile}" is committed as a symbolic link; agents read it from git, where a link is only the name of its target: commit the encrypted file itself`));
      continue;
    }
    const full = join(dir, s.sopsFile);
    const st = await lstat(full).catch(() => null);
    if (!st) continue; // "does not exist" is reported by loadFleetDir
    if (st.isSymbolicLink()) {
      issues.push(at("error", where, `sopsFile "${s.sopsFile}" is a symbolic link; agents read it from git, where a link is only the name of its target: commit the encrypted file itself`));
      continue;
    }
    if (!st.isFile()) {
      issues.push(at("error", where, `sopsFile "${s.sopsFile}" is not a regular file`));
      continue;
    }
    let recipients: string[];
    try {
      recipients = loadSopsRecipients(await readFile(full), formatFromPath(s.sopsFile), s.sopsFile);
    } catch (e) {
      issues.push(at("error", where, `sopsFile "${s.sopsFile}" cannot be read as a SOPS file: ${(e as Error).message}`));
      continue;
    }
    const have = new Set(recipients);
    const missing: string[] = [];
    for (const host of resolveSelectors(s.hosts, hosts)) {
      let recipient: string;
      try {
        recipient = hostRecipient(keyOf.get(host)!, `hosts.${host}.hostKey`);
      } catch {
        continue; // an invalid host key is a rule error already
      }
      if (!have.has(recipient)) missing.push(`${host} (${recipient})`);
    }
    if (missing.length > 0) {
      issues.push(
        at(
          "error",
          where,
          `sopsFile "${s.sopsFile}" is not encrypted to ${missing.length === 1 ? "host" : "hosts"} ${missing.join(", ")}, which ${missing.length === 1 ? "receives" : "receive"} secret "${s.name}"; that agent could not decrypt it. Run \`flotilla secrets updatekeys ${s.sopsFile}\``,
        ),
      );
    }
  }
  return issues;
}

/** The flake attribute path each host deploys: nixosConfigurations.<name> (or its attribute), or the legacy app. */
function hostAttribute(h: FleetFile["hosts"][number]): { path: (string | number)[]; attr: string[]; what: string } {
  if (h.kind === "nixos") {
    const attribute = h.attribute ?? `nixosConfigurations.${h.name}`;
    return { path: h.attribute ? ["attribute"] : ["name"], attr: attribute.split("."), what: attribute };
  }
  const app = h.app ?? "build-legacy";
  return { path: h.app ? ["app"] : ["kind"], attr: ["apps", "*", app], what: `apps.<system>.${app}` };
}

const NIX_CONFIG = "experimental-features = nix-command flakes";

/**
 * Does the flake define every host? One `nix eval` of attribute names only
 * (nothing is built, no system is evaluated): nixosConfigurations.<name> for
 * NixOS hosts, apps.<system>.<app> in some system for legacy hosts.
 */
export async function checkFlakeHosts(dir: string, file: FleetFile, at: Locate, notes: string[], nix = "nix"): Promise<LocatedIssue[]> {
  const wanted = file.hosts.map((h) => hostAttribute(h));
  const list = wanted.map((w) => `[ ${w.attr.map((a) => JSON.stringify(a)).join(" ")} ]`).join(" ");
  const expr = `let
  flake = builtins.getFlake ${JSON.stringify(resolve(dir))};
  has = acc: ks:
    if ks == [ ] then true
    else let k = builtins.head ks; rest = builtins.tail ks; in
      builtins.isAttrs acc && (
        if k == "*" then builtins.any (s: has acc.\${s} rest) (builtins.attrNames acc)
        else builtins.hasAttr k acc && has acc.\${k} rest);
in map (has flake) [ ${list} ]`;
  const env = { ...process.env, NIX_CONFIG: process.env.NIX_CONFIG ? `${process.env.NIX_CONFIG}\n${NIX_CONFIG}` : NIX_CONFIG };
  let r;
  try {
    r = await execa(nix, ["eval", "--json", "--impure", "--expr", expr], { reject: false, env, encoding: "utf8", timeout: 600_000 });
  } catch (e) {
    notes.push(`nix could not be run (${(e as Error).message.split("\n")[0]}): whether the flake defines every host was NOT checked; install Nix, or pass --no-eval to skip this check on purpose`);
    return [];
  }
  if ((r as { code?: string }).code === "ENOENT") {
    notes.push(`nix is not installed (no "${nix}" on PATH): whether the flake defines every host was NOT checked; install Nix, or pass --no-eval to skip this check on purpose`);
    return [];
  }
  if (r.exitCode !== 0) {
    const lines = String(r.stderr).trim().split("\n").filter((l) => !/^(warning:|\s*$)/.test(l));
    return [{ ...at("error", [], ""), line: 0, col: 0, message: `the flake in ${dir} could not be evaluated, so the hosts could not be checked: ${lines.slice(-3).join(" ").replace(/\s+/g, " ").slice(0, 400)} (pass --no-eval to skip this check)` }];
  }
  const found = JSON.parse(String(r.stdout)) as boolean[];
  const issues: LocatedIssue[] = [];
  file.hosts.forEach((h, i) => {
    if (found[i]) return;
    const w = wanted[i]!;
    issues.push(
      at(
        "error",
        ["hosts", i, ...w.path],
        h.kind === "nixos"
          ? `host "${h.name}": the flake has no ${w.what}; agents would fail to build it (add it to flake.nix, or set attribute)`
          : `host "${h.name}": the flake has no ${w.what} for any system; the legacy agent would fail to run it`,
      ),
    );
  });
  notes.push(`nix eval: the flake defines ${found.filter(Boolean).length} of ${found.length} hosts`);
  return issues;
}
