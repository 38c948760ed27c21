/**
 * @module secrets/identities/ssh-to-age
 * Mic92/ssh-to-age's mapping, which sops-nix uses for host keys: the X25519
 * recipient is the Montgomery form of the ed25519 public key, and the identity
 * is SHA-512(seed)[:32] *unclamped* (X25519 clamps when it is used), printed
 * byte-for-byte as ssh-to-age prints it.
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";
import { bech32 } from "@scure/base";
import { IdentityError } from "../errors.js";

export function sshToAgeRecipient(publicKey: Uint8Array, source = "ssh public key"): string {
  let mont: Uint8Array;
  try {
    mont = ed25519.utils.toMontgomery(publicKey);
  } catch (e) {
    throw new IdentityError(source, "expected a valid ed25519 point", e);
  }
  return bech32.encodeFromBytes("age", mont);
}

export function sshToAgeIdentity(seed: Uint8Array): string {
  const h = sha512(seed);
  const scalar = h.slice(0, 32);
  h.fill(0);
  return bech32.encodeFromBytes("AGE-SECRET-KEY-", scalar).toUpperCase();
}
