/**
 * @module controller/commands/secrets
 * Operator side of Flotilla secrets, compatible with the real `sops` CLI:
 *   flotilla secrets decrypt <file> [--identity F]… [--extract PATH] [--input-type T]
 *   flotilla secrets encrypt <plain file> [--age R1,R2] [--input-type T] [--output F]
 *   flotilla secrets updatekeys [FILE…] [--identity F]… [--fleet DIR]
 * updatekeys re-wraps each file's data key for the recipients its `.sops.yaml`
 * creation rule names plus the ssh-to-age recipient of every host whose
 * fleet secrets use the file (from `hostKey` in fleet.yaml).
 */
import { access, readFile, writeFile, rename } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  decryptSopsFile,
  encryptSopsFile,
  extract,
  formatFromPath,
  hostRecipient,
  loadIdentityFile,
  renderDecrypted,
  renderValue,
  SecretsError,
  SOPS_FORMATS,
  updateKeys,
  type CryptRules,
  type Identity,
  type SopsFormat,
} from "../../../secrets/src/index.js";
import { loadFleetDir } from "../../../common/src/fleet/load.js";
import { parseCommandArgs, UsageError, wantsHelp } from "./args.js";
import type { CommandIO } from "./io.js";

const USAGE = `usage:
  flotilla secrets decrypt <file> [--identity F]... [--extract PATH] [--input-type yaml|json|dotenv|binary]
  flotilla secrets encrypt <plain file> [--age R1,R2] [--input-type T] [--output F]
  flotilla secrets updatekeys [FILE...] [--identity F]... [--fleet DIR]

Identities default to $SOPS_AGE_KEY_FILE, ~/.config/sops/age/keys.txt and
/etc/ssh/ssh_host_ed25519_key (whichever exist). encrypt without --age uses
the first matching creation rule of .sops.yaml.`;

function inputType(v: string | undefined, file: string): SopsFormat {
  if (v === undefined) return formatFromPath(file);
  if (!(SOPS_FORMATS as readonly string[]).includes(v)) throw new UsageError(`--input-type ${v}: expected one of ${SOPS_FORMATS.join(", ")}`);
  return v as SopsFormat;
}

const exists = (p: string) => access(p).then(() => true, () => false);

async function identities(files: string[] | undefined, io: CommandIO): Promise<Identity[]> {
  const explicit = (files ?? []).map((f) => path.resolve(io.cwd, f));
  const candidates = explicit.length
    ? explicit
    : [process.env["SOPS_AGE_KEY_FILE"], path.join(homedir(), ".config/sops/age/keys.txt"), "/etc/ssh/ssh_host_ed25519_key"].filter((x): x is string => !!x);
  const out: Identity[] = [];
  for (const f of candidates) {
    if (!explicit.length && !(await exists(f))) continue;
    try {
      out.push(...(await loadIdentityFile(f)));
    } catch (e) {
      if (explicit.length) throw e;
    }
  }
  if (out.length === 0) throw new UsageError("no identity found; pass --identity <age key file or ssh private key>");
  return out;
}

// ---- .sops.yaml ----

export interface CreationRule {
  pathRegex?: RegExp;
  age: string[];
  rules: CryptRules;
  macOnlyEncrypted: boolean;
}

function ageList(v: unknown): string[] {
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  if (Array.isArray(v)) return v.flatMap(ageList);
  return [];
}

async function findSopsConfig(start: string): Promise<string | undefined> {
  let dir = path.resolve(start);
  for (;;) {
    for (const n of [".sops.yaml", ".sops.yml"]) if (await exists(path.join(dir, n))) return path.join(dir, n);
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export async function loadRules(configPath: string): Promise<CreationRule[]> {
  const doc = parseYaml(await readFile(configPath, "utf8")) as { creation_rules?: Array<Record<string, unknown>> } | null;
  return (doc?.creation_rules ?? []).map((r) => ({
    pathRegex: typeof r["path_regex"] === "string" ? new RegExp(r["path_regex"]) : undefined,
    age: [...ageList(r["age"]), ...((r["key_groups"] as Array<Record<string, unknown>> | undefined) ?? []).flatMap((g) => ageList(g["age"]))],
    rules: {
      unencryptedSuffix: r["unencrypted_suffix"] as string | undefined,
      encryptedSuffix: r["encrypted_suffix"] as string | undefined,
      unencryptedRegex: r["unencrypted_regex"] as string | undefined,
      encryptedRegex: r["encrypted_regex"] as string | undefined,
      unencryptedCommentRegex: r["unencrypted_comment_regex"] as string | undefined,
      encryptedCommentRegex: r["encrypted_comment_regex"] as string | undefined,
    },
    macOnlyEncrypted: r["mac_only_encrypted"] === true,
  }));
}

export function ruleFor(rules: CreationRule[], rel: string): CreationRule | undefined {
  return rules.find((r) => !r.pathRegex || r.pathRegex.test(rel));
}

async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${file}.flotilla-tmp-${process.pid}`;
  await writeFile(tmp, bytes, { mode: 0o644 });
  await rename(tmp, file);
}

// ---- subcommands ----

async function decrypt(args: string[], io: CommandIO): Promise<number> {
  const { positionals, values } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: { identity: { type: "string", multiple: true, short: "i" }, extract: { type: "string" }, "input-type": { type: "string" } },
  }, "secrets decrypt");
  if (positionals.length !== 1) throw new UsageError("takes one file", "secrets decrypt");
  const file = positionals[0]!;
  const format = inputType(values["input-type"], file);
  const d = await decryptSopsFile(await readFile(path.resolve(io.cwd, file)), { format, identities: await identities(values.identity, io), file });
  io.stdout.write(values.extract ? renderValue(extract(d, values.extract, file), format) : renderDecrypted(d));
  return 0;
}

async function encrypt(args: string[], io: CommandIO): Promise<number> {
  const { positionals, values } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: { age: { type: "string", multiple: true }, "input-type": { type: "string" }, output: { type: "string", short: "o" } },
  }, "secrets encrypt");
  if (positionals.length !== 1) throw new UsageError("takes one plaintext file", "secrets encrypt");
  const file = path.resolve(io.cwd, positionals[0]!);
  const format = inputType(values["input-type"], positionals[0]!);
  let recipients = (values.age ?? []).flatMap(ageList);
  let rule: CreationRule | undefined;
  const target = values.output ? path.resolve(io.cwd, values.output) : file;
  const config = await findSopsConfig(path.dirname(target));
  if (config) rule = ruleFor(await loadRules(config), path.relative(path.dirname(config), target));
  if (recipients.length === 0) recipients = rule?.age ?? [];
  if (recipients.length === 0) throw new UsageError("no recipients: pass --age age1…[,…] or add a creation rule to .sops.yaml");
  const out = await encryptSopsFile(await readFile(file), {
    format,
    recipients,
    ...(rule ? { rules: rule.rules, macOnlyEncrypted: rule.macOnlyEncrypted } : {}),
    file: positionals[0]!,
  });
  if (values.output) await writeAtomic(target, out);
  else io.stdout.write(out);
  return 0;
}

async function updatekeys(args: string[], io: CommandIO): Promise<number> {
  const { positionals, values } = parseCommandArgs({
    args,
    allowPositionals: true,
    options: { identity: { type: "string", multiple: true, short: "i" }, fleet: { type: "string" }, yes: { type: "boolean", short: "y" } },
  }, "secrets updatekeys");
  const config = await findSopsConfig(io.cwd);
  if (!config) throw new UsageError("no .sops.yaml found in this directory or above");
  const base = path.dirname(config);
  const rules = await loadRules(config);
  const fleetDir = values.fleet ? path.resolve(io.cwd, values.fleet) : base;
  const loaded = await loadFleetDir(fleetDir);
  const fleet = loaded.fleet;
  if (!fleet) io.stderr.write(`flotilla secrets updatekeys: warning: no valid fleet.yaml in ${fleetDir}; host recipients will not be added\n`);
  const files = positionals.length ? positionals.map((p) => path.resolve(io.cwd, p)) : [...new Set((fleet?.secrets ?? []).map((s) => path.resolve(fleetDir, s.sopsFile)))];
  if (files.length === 0) throw new UsageError("no files: pass FILE… or declare secrets in fleet.yaml");
  const ids = await identities(values.identity, io);
  let failed = 0;
  for (const file of files) {
    const rel = path.relative(base, file);
    const fleetRel = path.relative(fleetDir, file);
    const rule = ruleFor(rules, rel);
    const hostNames = new Set((fleet?.secrets ?? []).filter((s) => path.normalize(s.sopsFile) === fleetRel).flatMap((s) => s.hosts));
    const hostRecipients = (fleet?.hosts ?? []).filter((h) => hostNames.has(h.name)).map((h) => hostRecipient(h.hostKey, `fleet.yaml hosts.${h.name}.hostKey`));
    const recipients = [...new Set([...(rule?.age ?? []), ...hostRecipients])];
    if (!rule) io.stderr.write(`flotilla secrets updatekeys: warning: ${rel}: no creation rule in ${path.relative(io.cwd, config) || config} matches; using host recipients only\n`);
    try {
      if (recipients.length === 0) throw new UsageError(`${rel}: no recipients from .sops.yaml or fleet.yaml`);
      const before = await readFile(file);
      const res = await updateKeys(before, { format: formatFromPath(file), identities: ids, recipients, file: rel });
      if (res.added.length === 0 && res.removed.length === 0) {
        io.stdout.write(`${rel}: already up to date (${recipients.length} recipients)\n`);
        continue;
      }
      await writeAtomic(file, res.bytes);
      io.stdout.write(`${rel}: updated keys${res.added.map((r) => `\n  + ${r}`).join("")}${res.removed.map((r) => `\n  - ${r}`).join("")}\n`);
    } catch (e) {
      if (!(e instanceof SecretsError) && !(e instanceof UsageError)) throw e;
      io.stderr.write(`flotilla secrets updatekeys: ${e.message}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}

export async function run(argv: string[], io: CommandIO): Promise<number> {
  const [sub, ...rest] = argv;
  if (!sub) throw new UsageError("expected a subcommand: decrypt, encrypt or updatekeys", "secrets");
  if (sub === "--help" || sub === "-h" || wantsHelp(rest)) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    if (sub === "decrypt") return await decrypt(rest, io);
    if (sub === "encrypt") return await encrypt(rest, io);
    if (sub === "updatekeys") return await updatekeys(rest, io);
    throw new UsageError(`unknown subcommand "${sub}" (expected decrypt, encrypt or updatekeys)`, "secrets");
  } catch (e) {
    if (e instanceof UsageError) throw e; // main(): exit 2 with the --help hint
    if (e instanceof SecretsError) {
      io.stderr.write(`flotilla secrets: ${e.message}\n`);
      return 1;
    }
    const err = e as NodeJS.ErrnoException;
    // Never print arbitrary error text here: it could quote file content.
    io.stderr.write(`flotilla secrets: ${err.code ? `${err.code} ${err.path ?? ""}` : err.name}\n`);
    return 1;
  }
}
