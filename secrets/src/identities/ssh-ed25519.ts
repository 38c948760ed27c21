/**
 * @module secrets/identities/ssh-ed25519
 * age's native `ssh-ed25519` recipient type (age-encryption.org/v1/ssh-ed25519)
 * as a custom Identity/Recipient for age-encryption, which has no SSH support.
 * Stanza: `-> ssh-ed25519 <tag> <share>`, tag = SHA-256(ssh wire key)[:4],
 * share = ephemeral X25519 public key; the shared secret is tweaked with
 * HKDF-SHA-256(salt = ssh wire key, info = label) before deriving the wrap key.
 */
import type { Identity as AgeIdentity, Recipient as AgeRecipient } from "age-encryption";
import { Stanza } from "age-encryption";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { base64nopad } from "@scure/base";
import { randomBytes } from "node:crypto";
import { sshEd25519Wire } from "./openssh.js";

const LABEL = new TextEncoder().encode("age-encryption.org/v1/ssh-ed25519");
const EMPTY = new Uint8Array(0);
const NONCE = new Uint8Array(12);

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function tagOf(wire: Uint8Array): Uint8Array {
  return sha256(wire).slice(0, 4);
}

/** Strict unpadded base64 as age requires (canonical encoding only). */
function decodeArg(s: string, len: number): Uint8Array | undefined {
  try {
    const b = base64nopad.decode(s);
    return b.length === len && base64nopad.encode(b) === s ? b : undefined;
  } catch {
    return undefined;
  }
}

function wrapKey(shared: Uint8Array, wire: Uint8Array, share: Uint8Array, theirMont: Uint8Array): Uint8Array {
  const tweak = hkdf(sha256, EMPTY, wire, LABEL, 32);
  const tweaked = x25519.scalarMult(tweak, shared);
  return hkdf(sha256, tweaked, concat(share, theirMont), LABEL, 32);
}

export class SshEd25519Recipient implements AgeRecipient {
  private readonly wire: Uint8Array;
  private readonly mont: Uint8Array;
  constructor(publicKey: Uint8Array) {
    this.wire = sshEd25519Wire(publicKey);
    this.mont = ed25519.utils.toMontgomery(publicKey);
  }
  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    const eph = randomBytes(32);
    const share = x25519.scalarMultBase(eph);
    const shared = x25519.scalarMult(eph, this.mont);
    const key = wrapKey(shared, this.wire, share, this.mont);
    const body = chacha20poly1305(key, NONCE).encrypt(fileKey);
    return [new Stanza(["ssh-ed25519", base64nopad.encode(tagOf(this.wire)), base64nopad.encode(share)], body)];
  }
}

export class SshEd25519Identity implements AgeIdentity {
  private readonly wire: Uint8Array;
  private readonly tag: Uint8Array;
  private readonly scalar: Uint8Array;
  private readonly mont: Uint8Array;
  constructor(seed: Uint8Array, publicKey: Uint8Array) {
    this.wire = sshEd25519Wire(publicKey);
    this.tag = tagOf(this.wire);
    // age: the X25519 scalar is SHA-512(seed)[:32]; X25519 clamps it.
    this.scalar = sha512(seed).slice(0, 32);
    this.mont = ed25519.utils.toMontgomery(publicKey);
  }
  unwrapFileKey(stanzas: Stanza[]): Uint8Array | null {
    for (const s of stanzas) {
      if (s.args[0] !== "ssh-ed25519") continue;
      if (s.args.length !== 3) throw new Error("invalid ssh-ed25519 stanza");
      const tag = decodeArg(s.args[1]!, 4);
      const share = decodeArg(s.args[2]!, 32);
      if (!tag || !share) throw new Error("invalid ssh-ed25519 stanza");
      if (!tag.every((b, i) => b === this.tag[i])) continue; // another key's stanza
      if (s.body.length !== 32) throw new Error("invalid ssh-ed25519 stanza");
      let shared: Uint8Array;
      try {
        shared = x25519.scalarMult(this.scalar, share);
      } catch {
        throw new Error("invalid ssh-ed25519 stanza: low-order share");
      }
      const key = wrapKey(shared, this.wire, share, this.mont);
      try {
        return chacha20poly1305(key, NONCE).decrypt(s.body);
      } catch {
        throw new Error("failed to decrypt ssh-ed25519 file key");
      }
    }
    return null;
  }
}
