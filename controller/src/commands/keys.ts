/**
 * @module controller/commands/keys
 * `flotilla keys recipient <ssh-ed25519 public key file | ->`: the age1…
 * recipient sops-nix derives from a host key (ssh-to-age mapping); accepts
 * .pub files, known_hosts and ssh-keyscan output (non-ed25519 lines skipped).
 * `flotilla keys identity <private key> [--passphrase-file F]`: the matching
 * AGE-SECRET-KEY-1… (ssh-to-age), for `SOPS_AGE_KEY_FILE`.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { hostRecipient, parseEd25519PrivateKey, sshToAgeIdentity, SecretsError } from "../../../secrets/src/index.js";
import { parseCommandArgs, UsageError, wantsHelp } from "./args.js";
import type { CommandIO } from "./io.js";

const USAGE = `usage:
  flotilla keys recipient <ssh-ed25519 public key file | ->   print the age1… recipient (ssh-to-age)
  flotilla keys identity <ssh private key> [--passphrase-file F]   print the AGE-SECRET-KEY-1… identity`;

async function readInput(arg: string, io: CommandIO): Promise<string> {
  if (arg === "-") {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(Buffer.from(c as Buffer));
    return Buffer.concat(chunks).toString("utf8");
  }
  return readFile(path.resolve(io.cwd, arg), "utf8");
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub) throw new UsageError("expected a subcommand: recipient or identity", "keys");
  if (sub === "--help" || sub === "-h" || wantsHelp(rest)) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    if (sub === "recipient") {
      const { positionals } = parseCommandArgs({ args: rest, allowPositionals: true, options: {} }, "keys recipient");
      if (positionals.length !== 1) throw new UsageError("takes one file (or - for stdin)", "keys recipient");
      const text = await readInput(positionals[0]!, io);
      const lines = text.split("\n").filter((l) => l.trim() && !l.trimStart().startsWith("#"));
      let printed = 0;
      for (const line of lines) {
        if (!/(^|\s)ssh-ed25519\s/.test(line)) {
          const type = line.trim().split(/\s+/).find((t) => /^(ssh-|ecdsa-|sk-)/.test(t)) ?? "unknown";
          io.stderr.write(`flotilla keys recipient: skipping a ${type} key; only ssh-ed25519 keys convert to age\n`);
          continue;
        }
        io.stdout.write(`${hostRecipient(line, positionals[0]!)}\n`);
        printed++;
      }
      if (printed === 0) throw new InputError(`${positionals[0]}: no ssh-ed25519 public key found; expected a .pub file, known_hosts or ssh-keyscan output`);
      return 0;
    }
    if (sub === "identity") {
      const { positionals, values } = parseCommandArgs({ args: rest, allowPositionals: true, options: { "passphrase-file": { type: "string" } } }, "keys identity");
      if (positionals.length !== 1) throw new UsageError("takes one private key file", "keys identity");
      const file = path.resolve(io.cwd, positionals[0]!);
      const passphrase = values["passphrase-file"] ? (await readFile(path.resolve(io.cwd, values["passphrase-file"]), "utf8")).replace(/\r?\n$/, "") : undefined;
      const key = parseEd25519PrivateKey(await readFile(file), positionals[0]!, passphrase);
      io.stdout.write(`${sshToAgeIdentity(key.seed)}\n`);
      return 0;
    }
    throw new UsageError(`unknown subcommand "${sub}" (expected recipient or identity)`, "keys");
  } catch (e) {
    return fail(e, io);
  }
}

class InputError extends Error {}

function fail(e: unknown, io: CommandIO): number {
  if (e instanceof UsageError) throw e; // main(): exit 2 with the --help hint
  if (e instanceof SecretsError || e instanceof InputError) {
    io.stderr.write(`flotilla keys: ${e.message}\n`);
    return 1;
  }
  const code = (e as NodeJS.ErrnoException).code;
  io.stderr.write(`flotilla keys: ${code ? `${code}: ${(e as NodeJS.ErrnoException).path ?? ""}` : (e as Error).message}\n`);
  return 1;
}
