/**
 * @module secrets/identities/age-keys
 * age identity files (`AGE-SECRET-KEY-1…`, `AGE-SECRET-KEY-PQ-1…`, one per
 * line, `#` comments) and the generic "identity file" loader used by the CLI:
 * an OpenSSH ed25519 private key yields both SSH identities, anything else is
 * read as an age key file. Parsing and recipients come from age-encryption.
 */
import { readFile } from "node:fs/promises";
import { identityToRecipient } from "age-encryption";
import { IdentityError } from "../errors.js";
import { makeIdentity, type Identity } from "./types.js";
import { isOpenSshPrivateKey, parseEd25519PrivateKey } from "./openssh.js";
import { sshIdentitiesFromKey } from "./host.js";
import { x25519CryptoKey } from "./x25519-key.js";

export async function parseAgeKeyFile(text: string, source: string): Promise<Identity[]> {
  const out: Identity[] = [];
  let lineNo = 0;
  for (const raw of text.split("\n")) {
    lineNo++;
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (!line.startsWith("AGE-SECRET-KEY-1") && !line.startsWith("AGE-SECRET-KEY-PQ-1")) {
      throw new IdentityError(source, `line ${lineNo}: expected an AGE-SECRET-KEY-1… or AGE-SECRET-KEY-PQ-1… identity`);
    }
    let recipient: string;
    try {
      recipient = await identityToRecipient(line);
    } catch (e) {
      throw new IdentityError(source, `line ${lineNo}: invalid age identity`, e);
    }
    const key = await x25519CryptoKey(line);
    out.push(makeIdentity(line.startsWith("AGE-SECRET-KEY-PQ-1") ? "hybrid" : "x25519", recipient, source, key ?? line));
  }
  if (out.length === 0) throw new IdentityError(source, "expected at least one age identity");
  return out;
}

/** Load any supported identity file: OpenSSH ed25519 private key or age key file. */
export async function loadIdentityFile(path: string, passphrase?: string): Promise<Identity[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new IdentityError(path, `cannot read identity file (${(e as NodeJS.ErrnoException).code ?? "error"})`, e);
  }
  const text = bytes.toString("utf8");
  if (isOpenSshPrivateKey(text)) return sshIdentitiesFromKey(parseEd25519PrivateKey(bytes, path, passphrase), path);
  return parseAgeKeyFile(text, path);
}
