/**
 * `flotilla releases [DIR] [--rev REV] [-n N] [--closures] [--json]`: for the
 * last N first-parent commits up to REV of the fleet repo DIR, whether a
 * release manifest exists (refs/flotilla/releases/<rev>, fetched or written
 * locally) and whether the fleet at that commit trusts it — built, missing or
 * untrusted — and which hosts of that commit substitute (and so cannot
 * deploy it until it is built). With --closures, `nix store diff-closures`
 * per host between the releases of REV's first parent and REV (both closures
 * must be in the local store, as on the builder), with closure sizes
 * (build/closures.ts; `flotilla plan --closures` diffs against what hosts run).
 */
import { resolve } from "node:path";
import { execa } from "execa";
import { deliveryMode } from "../../../common/src/fleet/delivery.js";
import { hasErrors, loadFleetAtRev } from "../../../common/src/fleet/load.js";
import { GitMirror } from "../../../common/src/git/mirror.js";
import { gitSaid } from "../../../common/src/git/run.js";
import { createLogger } from "../../../common/src/log.js";
import { checkRelease } from "../../../common/src/release/manifest.js";
import { readRelease } from "../../../common/src/release/refs.js";
import { ReleaseManifest, SignedRelease } from "../../../schemas/src/release.js";
import { nixRunner } from "../build/builder.js";
import { diffClosures, formatClosureDiff, releaseHosts, type ClosureDiff } from "../build/closures.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";

const HELP = `usage: flotilla releases [DIR] [--rev REV] [-n N] [--closures] [--json]

For the last N (default 10) first-parent commits up to REV (default HEAD) of
the fleet repo DIR, shows whether a release was built (refs/flotilla/releases/
<rev>; run \`git fetch origin 'refs/flotilla/releases/*:refs/flotilla/releases/*'\`
first to see the remote's), whether that commit's delivery.builders trust it,
and which hosts substitute and so wait for it.

options:
  --rev REV    a commit, branch or tag (default HEAD)
  -n N         how many commits (default 10)
  --closures   nix store diff-closures per host between the releases of REV's
               first parent and REV, with closure sizes (closures must be in
               the local store; flotilla plan --closures diffs against what
               each host runs now)
  --json       one JSON document
  -h, --help   this text

exit status: 0 ok, 1 not a git repo or REV unknown, 2 bad usage
`;

export interface ReleaseRow {
  rev: string;
  subject: string;
  status: "built" | "missing" | "untrusted" | "mismatch";
  detail: string;
  builder?: string;
  builtAt?: string;
  substituting: string[];
  hosts?: Record<string, string>;
}

async function git(cwd: string, args: string[]): Promise<string> {
  const r = await execa("git", args, { cwd, reject: false, env: { LC_ALL: "C", GIT_TERMINAL_PROMPT: "0" } });
  if (r.exitCode !== 0) throw new Error(`git ${args.join(" ")} failed in ${cwd}: ${gitSaid(String(r.stderr))}`);
  return String(r.stdout).trim();
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const parsed = parseCommandArgs(
    {
      args: argv,
      allowPositionals: true,
      options: { rev: { type: "string" }, n: { type: "string", short: "n" }, closures: { type: "boolean" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
    },
    "releases",
  );
  const v = parsed.values;
  if (v.help) {
    io.stdout.write(HELP);
    return 0;
  }
  const n = Number(v.n ?? 10);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new UsageError(`-n: expected a whole number from 1 to 1000, got ${JSON.stringify(v.n)}`, "releases");
  if (parsed.positionals.length > 1) throw new UsageError(`expected at most one DIR, got ${parsed.positionals.length}`, "releases");
  const dir = resolve(io.cwd, parsed.positionals[0] ?? ".");
  let gitDir: string;
  let prefix: string;
  let revs: string[];
  try {
    gitDir = await git(dir, ["rev-parse", "--absolute-git-dir"]);
    prefix = await git(dir, ["rev-parse", "--show-prefix"]);
    revs = (await git(dir, ["rev-list", "--first-parent", "-n", String(n), `${v.rev ?? "HEAD"}^{commit}`])).split("\n").filter(Boolean);
  } catch (e) {
    io.stderr.write(`flotilla releases: ${(e as Error).message}\n`);
    return 1;
  }
  const log = createLogger({ component: "releases", level: "warn", write: (l) => io.stderr.write(`${l}\n`) });
  const mirror = new GitMirror({ dir: gitDir, remotes: [], branch: "main", log });
  const rows: ReleaseRow[] = [];
  for (const rev of revs) {
    const info = await mirror.commitInfo(rev);
    const loaded = await loadFleetAtRev(mirror, rev, `${prefix}fleet.yaml`);
    const fleet = hasErrors(loaded.issues) ? undefined : loaded.fleet;
    const substituting = fleet ? fleet.hosts.filter((h) => deliveryMode(fleet.delivery, h.name) !== "build").map((h) => h.name) : [];
    const text = await readRelease({ gitDir, rev, log });
    const row: ReleaseRow = { rev, subject: info.subject, status: "missing", detail: "no release", substituting };
    if (text !== null) {
      // Which hosts it names does not depend on trust; the check runs against the first substituting host (or any).
      const anyHost = substituting[0] ?? fleet?.hosts[0]?.name ?? "";
      const check = checkRelease(text, { builders: fleet?.delivery?.builders ?? [], rev, host: anyHost });
      let manifest: ReleaseManifest | undefined;
      try {
        manifest = ReleaseManifest.parse(JSON.parse(SignedRelease.parse(JSON.parse(text)).payload));
      } catch {
        manifest = undefined;
      }
      if (check.ok) Object.assign(row, { status: "built", detail: `${Object.keys(check.manifest.hosts).length} host(s)` });
      else Object.assign(row, { status: check.problem, detail: check.message });
      if (manifest) Object.assign(row, { builder: manifest.builder.name, builtAt: manifest.builtAt, hosts: Object.fromEntries(Object.entries(manifest.hosts).map(([h, e]) => [h, e.outPath])) });
    }
    rows.push(row);
  }

  const closures: ClosureDiff[] = [];
  if (v.closures) {
    const nix = nixRunner(process.env);
    const outPaths = async (rev: string | undefined) => (rev ? await releaseHosts({ gitDir, rev, log }) : undefined);
    const to = await outPaths(revs[0]);
    const from = await outPaths((await mirror.commitInfo(revs[0]!)).parents[0]);
    if (!to || !from) io.stderr.write("flotilla releases: --closures needs readable releases of both REV and its first parent\n");
    else {
      for (const [host, toEntry] of Object.entries(to)) {
        const fromEntry = from[host];
        if (!fromEntry) continue;
        closures.push(
          await diffClosures(nix, host, fromEntry.outPath, toEntry.outPath).catch((e: Error) => ({
            host, from: fromEntry.outPath, to: toEntry.outPath, diff: `(cannot diff: ${e.message.split("\n").pop()})`, fromSize: null, toSize: null, sizeDelta: null,
          })),
        );
      }
    }
  }

  if (v.json) {
    io.stdout.write(JSON.stringify({ releases: rows, ...(v.closures ? { closures } : {}) }, null, 2) + "\n");
    return 0;
  }
  const out: string[] = [];
  for (const r of rows) {
    const who = r.builder ? ` by ${r.builder} at ${r.builtAt}` : "";
    const wait = r.status !== "built" && r.substituting.length ? `; waiting for it: ${r.substituting.join(", ")}` : "";
    out.push(`${r.rev.slice(0, 12)}  ${r.status.padEnd(9)}  ${r.subject}${who}${r.status === "built" ? ` (${r.detail})` : r.status !== "missing" ? `: ${r.detail}` : ""}${wait}`);
  }
  for (const c of closures) out.push("", ...formatClosureDiff(c));
  io.stdout.write(out.join("\n") + "\n");
  return 0;
}
