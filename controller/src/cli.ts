/**
 * `flotilla`: the operator CLI and controller entry point. Wiring only: each
 * subcommand lives in commands/<name>.ts and exports
 * `run(argv, io): Promise<number>` (the exit code).
 */
import type { CommandIO } from "./commands/io.js";

type CommandModule = { run(argv: string[], io: CommandIO): Promise<number> };

const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  // One line per subcommand: name: { summary, load: () => import("./commands/<name>.js") },
  validate: { summary: "check fleet.yaml: syntax, schema, rules, secret files", load: () => import("./commands/validate.js") },
  plan: { summary: "show each host's wave and target revision, and what fleet.yaml changed", load: () => import("./commands/plan.js") },
  build: { summary: "build every host once, sign and push the closures, publish a signed release", load: () => import("./commands/build.js") },
  releases: { summary: "per commit: release built, missing or untrusted; closure diffs between releases", load: () => import("./commands/releases.js") },
  keys: { summary: "age recipients and identities from SSH ed25519 host keys (ssh-to-age)", load: () => import("./commands/keys.js") },
  secrets: { summary: "decrypt, encrypt and updatekeys for SOPS files (age, host keys)", load: () => import("./commands/secrets.js") },
  serve: { summary: "run the controller (reports, wave gates, status API, dashboard, metrics)", load: () => import("./commands/serve.js") },
  status: { summary: "fleet status from the controller: hosts, revisions, health, rollouts", load: () => import("./commands/status.js") },
  audit: { summary: "every transition and decision with commit, PR, author and merger", load: () => import("./commands/audit.js") },
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

export async function main(argv: string[], io: CommandIO = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() }): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage() + "\n");
    return name ? 0 : 2;
  }
  if (name === "--version") {
    io.stdout.write(`flotilla ${VERSION}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.stderr.write(`flotilla: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  try {
    return await (await command.load()).run(rest, io);
  } catch (e) {
    io.stderr.write(`flotilla ${name}: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

export const VERSION = "0.1.0";
