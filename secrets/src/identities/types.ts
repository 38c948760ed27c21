/**
 * @module secrets/identities/types
 * An identity as the secrets module passes it around: what age-encryption's
 * Decrypter accepts, plus the recipient it answers to and where it came from
 * (for "no recipient matches" messages). Never log `age` itself.
 */
import type { Decrypter } from "age-encryption";

/** Anything age-encryption's Decrypter.addIdentity takes: a string, an X25519 CryptoKey or a custom identity. */
export type AgeIdentityLike = Parameters<Decrypter["addIdentity"]>[0];

export type IdentityKind = "x25519" | "hybrid" | "ssh-to-age" | "ssh-ed25519";

export interface Identity {
  readonly kind: IdentityKind;
  /** `age1…`, `age1pq1…` or `ssh-ed25519 AAAA…`: the recipient this identity decrypts for. */
  readonly recipient: string;
  /** File the identity was loaded from (for messages). */
  readonly source: string;
  /** What age-encryption's Decrypter.addIdentity takes. Secret material: never print. */
  readonly age: AgeIdentityLike;
  /** Keeps secret material out of JSON.stringify/console output. */
  toJSON(): unknown;
}

export function makeIdentity(kind: IdentityKind, recipient: string, source: string, age: AgeIdentityLike | import("node:crypto").webcrypto.CryptoKey): Identity {
  const id = { kind, recipient, source, toJSON: () => ({ kind, recipient, source }) } as Identity;
  // Non-enumerable so util.inspect and spreads don't show it.
  Object.defineProperty(id, "age", { value: age, enumerable: false });
  return id;
}
