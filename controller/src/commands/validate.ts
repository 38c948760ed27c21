/**
 * `flotilla validate [DIR] [--json] [--no-eval]`: checks DIR/fleet.yaml
 * (default: the current directory) and prints every problem as
 * `file:line:col  path  message` (or one JSON document). Beyond the file
 * itself (loadFleetDir: YAML, schema, rules, sopsFiles present) it checks
 * what agents would refuse at deploy time: the HEAD commit's signature when
 * the fleet requires signed commits, sopsFiles committed as files and
 * encrypted to every receiving host, and, with the real `nix` CLI, that the
 * flake defines every host. What it could not check is said in a note.
 * Exit 1 when there is any error, 0 otherwise; warnings and notes do not fail.
 */
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { formatIssue, hasErrors, issueLocator, loadFleetDir, type LocatedIssue } from "../../../common/src/fleet/load.js";
import { parseCommandArgs, UsageError } from "./args.js";
import type { CommandIO } from "./io.js";
import { checkFlakeHosts, checkSignature, checkSops, repoFacts } from "./validate-checks.js";

const HELP = `usage: flotilla validate [DIR] [--json] [--no-eval]

Checks DIR/fleet.yaml (default: the current directory) the way agents will
judge the commit: YAML syntax, the schema, cross-field rules, and then
  - every secret's sopsFile exists, is committed as a file (not a symlink),
    and is encrypted to the age recipient of every host that receives it;
  - when the fleet requires signed commits (allowedSigners), the HEAD commit
    is signed by an allowed signer (DIR must be the root of a git clone);
  - the flake defines every host (nixosConfigurations.<name>, or the legacy
    app), with one cheap \`nix eval\` of attribute names (nothing is built).
Prints each problem as "file:line:col  path  message", then notes on what
could not be checked (no git repository, no nix, uncommitted changes).

options:
  --json     print one JSON document instead
  --no-eval  do not run nix (the flake's hosts are not checked; says so)
  -h, --help this text

exit status: 0 valid (warnings allowed), 1 errors found, 2 bad usage
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const parsed = parseCommandArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: "boolean" }, "no-eval": { type: "boolean" }, help: { type: "boolean", short: "h" } },
    }, "validate");
  if (parsed.values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (parsed.positionals.length > 1) throw new UsageError(`expected at most one DIR, got ${parsed.positionals.length}`, "validate");
  const dir = parsed.positionals[0] ?? ".";
  const label = join(dir, "fleet.yaml");
  const abs = resolve(io.cwd, dir);
  const result = await loadFleetDir(abs, { label });
  const notes: string[] = [];
  const issues: LocatedIssue[] = [...result.issues];
  if (result.file) {
    const file = result.file;
    const at = issueLocator(await readFile(join(abs, "fleet.yaml"), "utf8"), label);
    const paths = ["fleet.yaml", ...new Set((file.secrets ?? []).map((s) => s.sopsFile).filter((p) => !p.startsWith("/") && !p.split("/").includes("..")))];
    const repo = await repoFacts(abs, paths, notes);
    if (repo?.head && repo.dirty.length > 0) notes.push(`uncommitted changes to ${repo.dirty.join(", ")}: checked as in the work tree; agents will see only what is committed`);
    issues.push(...(await checkSignature(file, repo, at, notes)));
    issues.push(...(await checkSops(abs, file, repo, at)));
    if (parsed.values["no-eval"]) notes.push("--no-eval: whether the flake defines every host was not checked");
    else issues.push(...(await checkFlakeHosts(abs, file, at, notes)));
  } else {
    notes.push("the fleet file could not be read as a fleet (see the errors above): the commit signature, the sopsFiles' recipients and the flake's hosts were not checked");
  }
  issues.sort((a, b) => a.line - b.line || a.col - b.col);
  const errors = issues.filter((i) => i.severity === "error").length;
  const warnings = issues.length - errors;
  const fleet = errors === 0 ? result.fleet : undefined;
  if (parsed.values.json) {
    io.stdout.write(
      JSON.stringify(
        { valid: errors === 0, errors, warnings, hosts: fleet?.hosts.length ?? null, waves: fleet?.waves.map((w) => w.name) ?? null, issues, notes },
        null,
        2,
      ) + "\n",
    );
    return errors > 0 ? 1 : 0;
  }
  for (const issue of issues) io.stdout.write(formatIssue(issue) + "\n");
  for (const note of notes) io.stderr.write(`note: ${note}\n`);
  if (hasErrors(issues)) {
    io.stderr.write(`${label}: invalid (${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"})\n`);
    return 1;
  }
  const f = fleet!;
  io.stderr.write(
    `${label}: valid: ${f.hosts.length} host${f.hosts.length === 1 ? "" : "s"}, waves ${f.waves.map((w) => w.name).join(" → ")}` +
      `${warnings ? `, ${warnings} warning${warnings === 1 ? "" : "s"}` : ""}\n`,
  );
  return 0;
}
