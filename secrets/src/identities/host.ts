/**
 * @module secrets/identities/host
 * A machine's identities from its SSH host key, both ways sops users encrypt
 * for it: the ssh-to-age X25519 identity (sops-nix's `age.sshKeyPaths`) and
 * age's native ssh-ed25519 identity (recipients written `ssh-ed25519 AAAA…`).
 */
import { readFile } from "node:fs/promises";
import { HostKeyError, IdentityError } from "../errors.js";
import { makeIdentity, type Identity } from "./types.js";
import { parseEd25519PrivateKey, parseEd25519PublicKey, sshEd25519PublicLine, type Ed25519PrivateKey } from "./openssh.js";
import { sshToAgeIdentity, sshToAgeRecipient } from "./ssh-to-age.js";
import { SshEd25519Identity } from "./ssh-ed25519.js";
import { x25519CryptoKey } from "./x25519-key.js";

export async function sshIdentitiesFromKey(key: Ed25519PrivateKey, source: string): Promise<Identity[]> {
  const converted = sshToAgeIdentity(key.seed);
  return [
    makeIdentity("ssh-to-age", sshToAgeRecipient(key.publicKey, source), source, (await x25519CryptoKey(converted)) ?? converted),
    makeIdentity("ssh-ed25519", sshEd25519PublicLine(key.publicKey), source, new SshEd25519Identity(key.seed, key.publicKey)),
  ];
}

/** Both identities of the host key at `sshHostKeyPath` (e.g. /etc/ssh/ssh_host_ed25519_key). */
export async function loadHostIdentities(sshHostKeyPath: string): Promise<Identity[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(sshHostKeyPath);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new HostKeyError(
      sshHostKeyPath,
      code === "ENOENT" ? "missing; expected the host's ed25519 SSH key here" : `unreadable (${code ?? "error"}); expected a readable ed25519 SSH key`,
      e,
    );
  }
  try {
    return await sshIdentitiesFromKey(parseEd25519PrivateKey(bytes, sshHostKeyPath), sshHostKeyPath);
  } catch (e) {
    if (e instanceof IdentityError) throw new HostKeyError(sshHostKeyPath, e.message.replace(`${sshHostKeyPath}: `, ""), e);
    throw e;
  }
}

/** The `age1…` recipient (ssh-to-age mapping) for an `ssh-ed25519 AAAA…` line or known_hosts line. */
export function hostRecipient(sshEd25519PublicKeyLine: string, source = "ssh public key"): string {
  return sshToAgeRecipient(parseEd25519PublicKey(sshEd25519PublicKeyLine, source), source);
}
