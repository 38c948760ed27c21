/**
 * `flotilla plan [DIR] [--rev REV] [--json] [--closures]`: reads fleet.yaml as
 * committed at REV (default HEAD) in the git repo DIR (default: the current
 * directory) and shows, per host, its wave and the revision it should run;
 * then what fleet.yaml changed since REV's first parent; with --closures, per
 * host the closure diff between what it runs now and what REV would run
 * (plan-closures.ts). Reads through git only, so uncommitted edits do not
 * count (use `flotilla validate` for those).
 */
import { resolve } from "node:path";
import { formatIssue, hasErrors, loadFleetAtRev, type LoadResult } from "../../../common/src/fleet/load.js";
import { GitMirror } from "../../../common/src/git/mirror.js";
import { gitSaid, spawnCollect } from "../../../common/src/git/run.js";
import { createLogger } from "../../../common/src/log.js";
import { diffFleets, formatFleetDiff, type FleetDiff } from "../../../common/src/plan/diff.js";
import { planRollout } from "../../../common/src/plan/plan.js";
import { StatusReport } from "../../../schemas/src/api.js";
import { nixRunner } from "../build/builder.js";
import { parseCommandArgs, UsageError } from "./args.js";
import { formatPlanClosures, planClosures, type HostClosurePlan } from "./plan-closures.js";
import { fetchReport } from "./remote.js";
import type { CommandIO } from "./io.js";

const HELP = `usage: flotilla plan [DIR] [--rev REV] [--json]
                     [--closures [--controller URL] [--token T]]

For the fleet repo DIR (a git work tree; default: the current directory),
reads fleet.yaml at REV (default HEAD) and prints each host's wave and the
revision it should run, then what fleet.yaml changed since REV's first parent.

With --closures, also per host the closure diff (nix store diff-closures,
with closure sizes) between what the host runs now and what REV would run:
"now" is the generation the controller reports (when it answers), else the
release of the host's current revision (REV's parent without a controller),
else unknown; "would run" is the release of REV (refs/flotilla/releases/REV,
fetch them first) or, without one, the system built here with nix. Paths not
in the local store are fetched from the fleet's delivery.caches.

options:
  --rev REV         a commit, branch or tag (default HEAD)
  --json            print one JSON document instead
  --closures        per-host closure diffs (runs nix)
  --controller URL  the controller to ask what hosts run (default
                    $FLOTILLA_CONTROLLER or http://127.0.0.1:8480)
  --token T         operator token (default $FLOTILLA_TOKEN)
  -h, --help        this text

exit status: 0 ok, 1 fleet.yaml invalid at REV or not a git repo, 2 bad usage
`;

class PlanError extends Error {
  override name = "PlanError";
}

/** Runs git in `cwd`; a git that cannot start is a PlanError too (spawnCollect rejects, never crashes). */
async function execGit(cwd: string, args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  try {
    const r = await spawnCollect("git", args, { cwd, timeoutMs: 120_000, env: { ...process.env, LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" } });
    return { exitCode: r.exitCode, stdout: r.stdout.toString("utf8").trim(), stderr: r.stderr.toString("utf8").trim() };
  } catch (cause) {
    throw new PlanError(`git ${args.join(" ")} in ${cwd}: ${(cause as Error).message}`, { cause });
  }
}

async function git(cwd: string, args: string[]): Promise<string> {
  const r = await execGit(cwd, args);
  if (r.exitCode !== 0) throw new PlanError(`git ${args.join(" ")} failed in ${cwd}: ${gitSaid(r.stderr)}`);
  return r.stdout;
}

interface Repo {
  mirror: GitMirror;
  gitDir: string;
  /** The work tree's top directory and DIR's path inside it ("" or "sub/"). */
  top: string;
  prefix: string;
  /** Path of fleet.yaml from the repo root (DIR may be a subdirectory). */
  fleetPath: string;
}

async function openRepo(dir: string): Promise<Repo> {
  const inside = await execGit(dir, ["rev-parse", "--is-inside-work-tree"]);
  if (inside.exitCode !== 0 || inside.stdout !== "true") {
    throw new PlanError(`${dir} is not a git work tree; flotilla plan reads fleet.yaml as committed (run git init and commit it, or use flotilla validate)`);
  }
  const gitDir = await git(dir, ["rev-parse", "--absolute-git-dir"]);
  const prefix = await git(dir, ["rev-parse", "--show-prefix"]);
  const top = await git(dir, ["rev-parse", "--show-toplevel"]);
  const log = createLogger({ component: "plan", level: "warn" });
  return { mirror: new GitMirror({ dir: gitDir, remotes: [], branch: "main", log }), gitDir, top, prefix, fleetPath: `${prefix}fleet.yaml` };
}

async function resolveRev(dir: string, rev: string): Promise<string> {
  const r = await execGit(dir, ["rev-parse", "--verify", "--quiet", "--end-of-options", `${rev}^{commit}`]);
  if (r.exitCode !== 0) throw new PlanError(`no commit "${rev}" in ${dir}`);
  return r.stdout;
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const parsed = parseCommandArgs({
      args: argv,
      allowPositionals: true,
      options: {
        rev: { type: "string" },
        json: { type: "boolean" },
        closures: { type: "boolean" },
        controller: { type: "string" },
        token: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }, "plan");
  if (parsed.values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (parsed.positionals.length > 1) throw new UsageError(`expected at most one DIR, got ${parsed.positionals.length}`, "plan");
  if (!parsed.values.closures && (parsed.values.controller !== undefined || parsed.values.token !== undefined)) {
    throw new UsageError("--controller and --token only go with --closures", "plan");
  }
  const dir = resolve(io.cwd, parsed.positionals[0] ?? ".");
  try {
    const repo = await openRepo(dir);
    const rev = await resolveRev(dir, parsed.values.rev ?? "HEAD");
    const info = await repo.mirror.commitInfo(rev);
    const current = await loadFleetAtRev(repo.mirror, rev, repo.fleetPath);
    if (hasErrors(current.issues) || !current.fleet) {
      for (const i of current.issues) io.stdout.write(formatIssue(i) + "\n");
      io.stderr.write(`flotilla plan: ${repo.fleetPath} is invalid at ${rev.slice(0, 12)}; nothing would deploy it\n`);
      return 1;
    }
    const plan = planRollout(current.fleet, rev);
    // A pin to a commit the repo does not have can never deploy; say so here rather than on the host.
    const warnings: string[] = [];
    for (const h of plan.hosts) {
      if (h.target.kind === "pinned" && !(await repo.mirror.hasCommit(h.target.rev))) {
        warnings.push(`${h.host} is pinned to ${h.target.rev}, which is not a commit of this repo; its agent cannot deploy it`);
      }
    }
    // policy.branch is the branch agents and the controller must be configured to follow (they refuse the file otherwise).
    const branch = current.fleet.policy.branch;
    const refs = await execGit(dir, ["for-each-ref", "--format=%(refname)", `refs/heads/${branch}`, "refs/remotes/"]);
    if (!refs.stdout.split("\n").some((r) => r === `refs/heads/${branch}` || (r.startsWith("refs/remotes/") && r.endsWith(`/${branch}`)))) {
      warnings.push(`policy.branch is "${branch}", but this repo has no branch "${branch}" (local or remote); agents follow the branch their configuration names and refuse a fleet.yaml whose policy.branch differs`);
    }
    const parent = info.parents[0];
    let previous: LoadResult | undefined;
    let diff: FleetDiff | undefined;
    let diffNote: string | undefined;
    if (parent) {
      previous = await loadFleetAtRev(repo.mirror, parent, repo.fleetPath);
      const missing = previous.issues.some((i) => i.line === 0 && /^no /.test(i.message));
      if (previous.fleet) diff = diffFleets(previous.fleet, current.fleet);
      else if (missing) diff = diffFleets(undefined, current.fleet);
      else diffNote = `${repo.fleetPath} was invalid at ${parent.slice(0, 12)} (${previous.issues.filter((i) => i.severity === "error").length} errors); no structural diff`;
    } else {
      diff = diffFleets(undefined, current.fleet);
    }

    let closures: HostClosurePlan[] | undefined;
    if (parsed.values.closures) {
      const controller = await fetchReport({ controller: parsed.values.controller, token: parsed.values.token }, "/api/v1/status", StatusReport).then(
        (status) => ({ status }),
        (e: Error) => ({ error: e.message }),
      );
      const log = createLogger({ component: "plan", level: "warn", write: (l) => io.stderr.write(`${l}\n`) });
      const sub = repo.prefix ? `&dir=${encodeURIComponent(repo.prefix.replace(/\/$/, ""))}` : "";
      closures = await planClosures({
        fleet: current.fleet,
        rev,
        ...(parent ? { parent: { rev: parent, fleet: previous?.fleet && !hasErrors(previous.issues) ? previous.fleet : undefined } } : {}),
        gitDir: repo.gitDir,
        flakeRef: (r) => `git+file://${repo.top}?rev=${r}${sub}`,
        nix: nixRunner(process.env),
        log,
        controller,
        progress: (l) => io.stderr.write(`${l}\n`),
      });
    }

    if (parsed.values.json) {
      io.stdout.write(
        JSON.stringify({ rev, subject: info.subject, parent: parent ?? null, plan, diff: diff ?? null, diffNote: diffNote ?? null, issues: current.issues, warnings, ...(closures ? { closures } : {}) }, null, 2) + "\n",
      );
      return 0;
    }
    const out: string[] = [];
    out.push(`${repo.fleetPath} at ${rev.slice(0, 12)} "${info.subject}"`);
    for (const i of current.issues) out.push(`  ${formatIssue(i)}`);
    for (const w of warnings) out.push(`  warning: ${w}`);
    out.push(`waves: ${plan.waves.map((w) => `${w.name}${w.implicit ? " (implicit)" : ""}`).join(" → ")}`);
    out.push("");
    const rows = plan.hosts.map((h) => [h.host, h.kind, h.wave, h.pinned ? "pinned" : "", h.summary]);
    const header = ["HOST", "KIND", "WAVE", "PIN", "RUNS"];
    const widths = header.map((_, c) => Math.max(header[c]!.length, ...rows.map((r) => r[c]!.length)));
    for (const r of [header, ...rows]) out.push(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  "));
    out.push("");
    if (diffNote) out.push(diffNote);
    else if (diff) {
      const lines = formatFleetDiff(diff);
      out.push(parent ? `changes to ${repo.fleetPath} since ${parent.slice(0, 12)}:` : "changes (root commit):");
      out.push(...(lines.length ? lines.map((l) => `  ${l}`) : ["  none"]));
    }
    if (closures) out.push("", ...formatPlanClosures(rev, closures));
    io.stdout.write(out.join("\n") + "\n");
    return 0;
  } catch (e) {
    if (e instanceof PlanError) {
      io.stderr.write(`flotilla plan: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
