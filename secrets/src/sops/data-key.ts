/**
 * @module secrets/sops/data-key
 * The sops data key: a 32-byte AES key wrapped once per age recipient, each an
 * armored age file in `sops.age[i].enc`. All age parsing and crypto is
 * age-encryption's; our ssh-ed25519 identity/recipient plug into it.
 */
import { Decrypter, Encrypter, armor } from "age-encryption";
import type { Identity } from "../identities/types.js";
import { SshEd25519Recipient } from "../identities/ssh-ed25519.js";
import { parseEd25519PublicKey } from "../identities/openssh.js";
import { DataKeyError, IdentityError, NoMatchingRecipientError } from "../errors.js";
import type { AgeKeyEntry } from "./metadata.js";

function decodeEnc(enc: string): Uint8Array {
  const t = enc.trim();
  if (t.startsWith("-----BEGIN AGE ENCRYPTED FILE-----")) return armor.decode(enc);
  return Buffer.from(enc, "utf8");
}

/**
 * Decrypt one age file (binary or armored) — the single age entry point of
 * this module. Identities are strings (`AGE-SECRET-KEY-…`) or custom
 * identities (ssh-ed25519); passphrases unlock scrypt stanzas.
 */
export async function ageDecrypt(file: Uint8Array | string, keys: { identities?: Array<Identity["age"]>; passphrases?: string[] }): Promise<Uint8Array> {
  const d = new Decrypter();
  for (const id of keys.identities ?? []) d.addIdentity(id);
  for (const p of keys.passphrases ?? []) d.addPassphrase(p);
  return d.decrypt(typeof file === "string" ? decodeEnc(file) : file);
}

const isNoMatch = (e: unknown) => e instanceof Error && /no identity matched/i.test(e.message);

/**
 * Unwrap the data key with the first age entry one of `identities` opens,
 * trying entries in file order as sops does. No match → NoMatchingRecipientError
 * listing the file's recipients and ours.
 */
export async function unwrapDataKey(age: AgeKeyEntry[], identities: Identity[], file: string | undefined): Promise<Uint8Array> {
  const d = new Decrypter();
  for (const id of identities) d.addIdentity(id.age);
  let firstError: { index: number; error: unknown } | undefined;
  for (let i = 0; i < age.length; i++) {
    let ct: Uint8Array;
    try {
      ct = decodeEnc(age[i]!.enc);
    } catch (e) {
      firstError ??= { index: i, error: e };
      continue;
    }
    try {
      const key = await d.decrypt(ct);
      if (key.length !== 32) throw new Error(`data key is ${key.length} bytes`);
      return key;
    } catch (e) {
      if (!isNoMatch(e)) firstError ??= { index: i, error: e };
    }
  }
  if (firstError) {
    const msg = firstError.error instanceof Error ? firstError.error.message : String(firstError.error);
    throw new DataKeyError(file, `sops.age[${firstError.index}].enc`, `expected an age file wrapping a 32-byte data key for ${age[firstError.index]!.recipient}: ${msg}`, firstError.error);
  }
  throw new NoMatchingRecipientError(
    file,
    age.map((a) => a.recipient),
    [...new Set(identities.map((i) => i.recipient))],
  );
}

/** Wrap the data key for one recipient (`age1…`, `age1pq1…` or `ssh-ed25519 AAAA…`), armored as sops writes it. */
export async function wrapDataKey(dataKey: Uint8Array, recipient: string): Promise<AgeKeyEntry> {
  const e = new Encrypter();
  const r = recipient.trim();
  try {
    if (r.startsWith("ssh-ed25519 ")) e.addRecipient(new SshEd25519Recipient(parseEd25519PublicKey(r, "recipient")));
    else if (r.startsWith("age1")) e.addRecipient(r);
    else throw new Error("unsupported recipient type");
  } catch (err) {
    if (err instanceof IdentityError) throw err;
    throw new IdentityError(`recipient ${r.slice(0, 80)}`, "expected an age1… or ssh-ed25519 recipient", err);
  }
  return { recipient: r, enc: armor.encode(await e.encrypt(dataKey)) };
}
