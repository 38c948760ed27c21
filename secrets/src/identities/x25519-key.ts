/**
 * @module secrets/identities/x25519-key
 * An `AGE-SECRET-KEY-1…` string as a non-extractable WebCrypto X25519
 * CryptoKey, which age-encryption's Decrypter accepts directly. Importing
 * once per identity (instead of per decryption, which is what passing the
 * string does) keeps the data-key unwrap cheap, and the secret scalar then
 * lives in the key object rather than in a JS string.
 */
import { bech32 } from "@scure/base";
import { x25519 } from "@noble/curves/ed25519.js";
import { webcrypto } from "node:crypto";

const b64url = (b: Uint8Array) => Buffer.from(b).toString("base64url");

export async function x25519CryptoKey(identity: string): Promise<webcrypto.CryptoKey | undefined> {
  if (!identity.startsWith("AGE-SECRET-KEY-1")) return undefined;
  try {
    const { prefix, bytes } = bech32.decodeToBytes(identity);
    if (prefix.toUpperCase() !== "AGE-SECRET-KEY-" || bytes.length !== 32) return undefined;
    const jwk = { kty: "OKP", crv: "X25519", d: b64url(bytes), x: b64url(x25519.getPublicKey(bytes)) };
    bytes.fill(0);
    return await webcrypto.subtle.importKey("jwk", jwk, { name: "X25519" }, false, ["deriveBits"]);
  } catch {
    return undefined; // age-encryption handles the string form itself
  }
}
