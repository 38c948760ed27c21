/**
 * `flotilla validate [DIR] [--json]`: checks DIR/fleet.yaml (default: the
 * current directory) and prints every problem as `file:line:col  path  message`
 * (or one JSON document). Exit 1 when there is any error, 0 otherwise;
 * warnings are printed but do not fail.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { formatIssue, hasErrors, loadFleetDir } from "../../../common/src/fleet/load.js";
import type { CommandIO } from "./io.js";

const HELP = `usage: flotilla validate [DIR] [--json]

Checks DIR/fleet.yaml (default: the current directory): YAML syntax, the
schema, cross-field rules, and that every secret's sopsFile exists.
Prints each problem as "file:line:col  path  message".

options:
  --json     print one JSON document instead
  -h, --help this text

exit status: 0 valid (warnings allowed), 1 errors found, 2 bad usage
`;

export async function run(argv: string[], io: CommandIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  } catch (e) {
    io.stderr.write(`flotilla validate: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.values.help) {
    io.stdout.write(HELP);
    return 0;
  }
  if (parsed.positionals.length > 1) {
    io.stderr.write(`flotilla validate: expected at most one DIR, got ${parsed.positionals.length}\n\n${HELP}`);
    return 2;
  }
  const dir = parsed.positionals[0] ?? ".";
  const label = join(dir, "fleet.yaml");
  const result = await loadFleetDir(resolve(io.cwd, dir), { label });
  const errors = result.issues.filter((i) => i.severity === "error").length;
  const warnings = result.issues.length - errors;
  if (parsed.values.json) {
    io.stdout.write(
      JSON.stringify(
        { valid: errors === 0, errors, warnings, hosts: result.fleet?.hosts.length ?? null, waves: result.fleet?.waves.map((w) => w.name) ?? null, issues: result.issues },
        null,
        2,
      ) + "\n",
    );
    return errors > 0 ? 1 : 0;
  }
  for (const issue of result.issues) io.stdout.write(formatIssue(issue) + "\n");
  const file = label;
  if (hasErrors(result.issues)) {
    io.stderr.write(`${file}: invalid (${errors} error${errors === 1 ? "" : "s"}, ${warnings} warning${warnings === 1 ? "" : "s"})\n`);
    return 1;
  }
  const f = result.fleet!;
  io.stderr.write(
    `${file}: valid: ${f.hosts.length} host${f.hosts.length === 1 ? "" : "s"}, waves ${f.waves.map((w) => w.name).join(" → ")}` +
      `${warnings ? `, ${warnings} warning${warnings === 1 ? "" : "s"}` : ""}\n`,
  );
  return 0;
}
