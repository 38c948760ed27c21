/**
 * @module secrets/identities/openssh
 * The one place that parses OpenSSH key files, through sshpk (unencrypted and
 * bcrypt/aes256-ctr protected openssh-key-v1, PEM). Only ed25519 keys are
 * returned; everything else is an IdentityError naming the file.
 */
import sshpk from "sshpk";
import { IdentityError } from "../errors.js";

export interface Ed25519PrivateKey {
  /** The 32-byte seed (RFC 8032 private key). */
  seed: Uint8Array;
  publicKey: Uint8Array;
}

function partData(parts: ReadonlyArray<{ name: string; data: Buffer }>, name: string): Buffer | undefined {
  return parts.find((p) => p.name === name)?.data;
}

export function isOpenSshPrivateKey(text: string): boolean {
  return /-----BEGIN (OPENSSH|EC|RSA|DSA)? ?PRIVATE KEY-----/.test(text);
}

export function parseEd25519PrivateKey(data: Uint8Array | string, source: string, passphrase?: string): Ed25519PrivateKey {
  let key: sshpk.PrivateKey;
  try {
    const opts = passphrase === undefined ? {} : { passphrase };
    key = sshpk.parsePrivateKey(Buffer.from(data as Uint8Array), "auto", opts as Parameters<typeof sshpk.parsePrivateKey>[2]);
  } catch (e) {
    const encrypted = e instanceof Error && e.name === "KeyEncryptedError";
    throw new IdentityError(
      source,
      encrypted ? "expected an unencrypted OpenSSH private key (this one is passphrase-protected; pass a passphrase)" : "expected an OpenSSH ed25519 private key",
      e instanceof Error ? new Error(e.name) : undefined,
    );
  }
  if (key.type !== "ed25519") throw new IdentityError(source, `expected an ed25519 key, found ${key.type}`);
  const k = partData(key.parts, "k");
  const a = partData(key.parts, "A");
  if (!k || !a || k.length !== 32 || a.length !== 32) throw new IdentityError(source, "expected a 32-byte ed25519 seed and public key");
  return { seed: new Uint8Array(k), publicKey: new Uint8Array(a) };
}

/**
 * Parse an `ssh-ed25519 AAAA… [comment]` line, or a known_hosts /
 * ssh-keyscan line (`host ssh-ed25519 AAAA…`). Returns the 32-byte key.
 */
export function parseEd25519PublicKey(line: string, source: string): Uint8Array {
  const tokens = line.trim().split(/\s+/);
  const at = tokens.indexOf("ssh-ed25519");
  if (at === -1 || tokens[at + 1] === undefined) {
    const t = tokens.find((x) => /^(ssh-|ecdsa-|sk-)/.test(x));
    throw new IdentityError(source, `expected an ssh-ed25519 public key${t ? `, found ${t}` : ""}`);
  }
  let key: sshpk.Key;
  try {
    key = sshpk.parseKey(`ssh-ed25519 ${tokens[at + 1]}`, "ssh");
  } catch (e) {
    throw new IdentityError(source, "expected a valid ssh-ed25519 public key", e instanceof Error ? new Error(e.message) : undefined);
  }
  const a = partData(key.parts, "A");
  if (key.type !== "ed25519" || !a || a.length !== 32) throw new IdentityError(source, "expected a 32-byte ssh-ed25519 public key");
  return new Uint8Array(a);
}

/** The SSH wire encoding `string "ssh-ed25519" ‖ string pk`, as age hashes it. */
export function sshEd25519Wire(publicKey: Uint8Array): Uint8Array {
  const name = Buffer.from("ssh-ed25519");
  const out = Buffer.alloc(4 + name.length + 4 + publicKey.length);
  out.writeUInt32BE(name.length, 0);
  name.copy(out, 4);
  out.writeUInt32BE(publicKey.length, 4 + name.length);
  Buffer.from(publicKey).copy(out, 8 + name.length);
  return out;
}

export function sshEd25519PublicLine(publicKey: Uint8Array): string {
  return `ssh-ed25519 ${Buffer.from(sshEd25519Wire(publicKey)).toString("base64")}`;
}
