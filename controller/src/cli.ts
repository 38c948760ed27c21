/**
 * `flotilla`: the operator CLI and controller entry point. Wiring only: each
 * subcommand lives in commands/<name>.ts and exports
 * `run(argv, io): Promise<number>` (the exit code).
 */
import { readFileSync } from "node:fs";
import { describeError, UsageError } from "./commands/args.js";
import type { CommandIO } from "./commands/io.js";

type CommandModule = { run(argv: string[], io: CommandIO): Promise<number> };

/** The command table; `subcommands` lists what `flotilla <command> <sub>` accepts (tests iterate it). */
export const COMMANDS: Record<string, { summary: string; subcommands?: string[]; load: () => Promise<CommandModule> }> = {
  // One line per subcommand: name: { summary, load: () => import("./commands/<name>.js") },
  validate: { summary: "check fleet.yaml: syntax, schema, rules, secret files", load: () => import("./commands/validate.js") },
  plan: { summary: "show each host's wave and target revision, and what fleet.yaml changed", load: () => import("./commands/plan.js") },
  build: { summary: "build every host once, sign and push the closures, publish a signed release", load: () => import("./commands/build.js") },
  releases: { summary: "per commit: release built, missing or untrusted; closure diffs between releases", load: () => import("./commands/releases.js") },
  keys: { summary: "age recipients and identities from SSH ed25519 host keys (ssh-to-age)", subcommands: ["recipient", "identity"], load: () => import("./commands/keys.js") },
  secrets: { summary: "decrypt, encrypt and updatekeys for SOPS files (age, host keys)", subcommands: ["decrypt", "encrypt", "updatekeys"], load: () => import("./commands/secrets.js") },
  serve: { summary: "run the controller (reports, wave gates, status API, dashboard, metrics)", load: () => import("./commands/serve.js") },
  status: { summary: "fleet status from the controller: hosts, revisions, health, rollouts", load: () => import("./commands/status.js") },
  audit: { summary: "every transition and decision with commit, PR, author and merger", load: () => import("./commands/audit.js") },
  rollout: { summary: "operator actions on a rollout: pause, resume, abort, approve a manual wave", subcommands: ["pause", "resume", "abort", "approve"], load: () => import("./commands/rollout.js") },
  host: { summary: "operator actions on a host: retry a failed revision, hold, release", subcommands: ["retry", "hold", "release"], load: () => import("./commands/host.js") },
  logs: { summary: "a host's deploy output tails (build, activation, hooks, checks), redacted", load: () => import("./commands/logs.js") },
};

export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    "usage: flotilla <command> [options]",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `flotilla <command> --help` for a command's options.",
  ].join("\n");
}

/**
 * Exit codes: 0 ok, 1 failure, 2 usage (a UsageError from any command), and a
 * command's own documented codes (status: 3). Errors print as one line,
 * `flotilla: <message>: <cause>…`; the stack only with FLOTILLA_DEBUG=1 or --debug.
 */
export async function main(argv: string[], io: CommandIO = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }): Promise<number> {
  const debug = argv.includes("--debug") || process.env["FLOTILLA_DEBUG"] === "1";
  const [name, ...rest] = argv.filter((a) => a !== "--debug");
  if (!name) {
    io.stderr.write(usage() + "\n");
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage() + "\n");
    return 0;
  }
  if (name === "--version" || name === "-V") {
    io.stdout.write(`flotilla ${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    const hint = name.startsWith("-") ? `unknown option ${name}` : `unknown command "${name}"`;
    io.stderr.write(`flotilla: ${hint}\nRun \`flotilla --help\` for the commands.\n`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      const cmd = e.command ?? name;
      io.stderr.write(`flotilla ${cmd}: ${e.message}\nRun \`flotilla ${cmd} --help\` for usage.\n`);
      return 2;
    }
    io.stderr.write(`flotilla: ${describeError(e)}\n`);
    if (debug && e instanceof Error && e.stack) io.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

/** The package version (package.json), from the source or the dist/ layout. */
function packageVersion(): string {
  for (const rel of ["../../../package.json", "../../package.json"]) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { version: string }).version;
    } catch {
      // try the next layout
    }
  }
  return "0.0.0";
}

export const VERSION = packageVersion();
