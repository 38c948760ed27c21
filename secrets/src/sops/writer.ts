/**
 * @module secrets/sops/writer
 * Writing sops files the way sops does (so sops, and our reader, accept them):
 * a fresh 32-byte data key wrapped per recipient, every value sealed with its
 * key path as AAD, the MAC over the plaintext sealed with lastmodified as AAD.
 * updateKeys re-wraps the existing data key for a new recipient set after
 * verifying the MAC, leaving every value byte-identical.
 */
import { randomBytes } from "node:crypto";
import type { Identity } from "../identities/types.js";
import type { MapNode } from "./tree.js";
import { entries } from "./tree.js";
import { emitSops, loadSops, parseBranches, type SopsFormat } from "./load.js";
import { type AgeKeyEntry, type SopsMetadata } from "./metadata.js";
import { RuleSet, type CryptRules } from "./rules.js";
import { encryptBranches } from "./walk.js";
import { sealValue } from "./enc-value.js";
import { goTimeRfc3339, rfc3339Now } from "./go-format.js";
import { unwrapDataKey, wrapDataKey } from "./data-key.js";
import { decryptSopsFile } from "./reader.js";
import { SopsFormatError } from "../errors.js";

/** The sops format level this writer follows (JSON integers are ints, as since 3.13.2). */
export const SOPS_FORMAT_VERSION = "3.13.2";

export interface EncryptOptions {
  format: SopsFormat;
  /** `age1…`, `age1pq1…` or `ssh-ed25519 AAAA…` recipients. */
  recipients: string[];
  rules?: CryptRules;
  macOnlyEncrypted?: boolean;
  now?: Date;
  file?: string;
}

async function wrapAll(dataKey: Uint8Array, recipients: string[], keep: AgeKeyEntry[] = []): Promise<AgeKeyEntry[]> {
  const out: AgeKeyEntry[] = [];
  for (const r of [...new Set(recipients.map((x) => x.trim()).filter(Boolean))]) {
    out.push(keep.find((k) => k.recipient === r) ?? (await wrapDataKey(dataKey, r)));
  }
  return out;
}

function sealMac(mac: string, key: Uint8Array, lastModified: string): string {
  return sealValue({ kind: "str", value: mac }, key, goTimeRfc3339(lastModified)!);
}

/** Encrypt a plaintext document into a sops file. */
export async function encryptSopsFile(plain: Uint8Array, opts: EncryptOptions): Promise<Uint8Array> {
  if (opts.recipients.length === 0) throw new SopsFormatError(opts.file, undefined, "expected at least one recipient");
  const branches = parseBranches(plain, opts.format, opts.file);
  for (const b of branches)
    for (const e of entries(b))
      if (e.key === "sops" || (opts.format === "dotenv" && e.key.startsWith("sops_")))
        throw new SopsFormatError(opts.file, e.key, "this key is reserved for sops metadata; expected plaintext without it");
  const rules: CryptRules = opts.rules && RuleSet.count(opts.rules) > 0 ? opts.rules : { unencryptedSuffix: "_unencrypted" };
  if (RuleSet.count(rules) > 1) throw new SopsFormatError(opts.file, undefined, "expected at most one encryption rule");
  const key = randomBytes(32);
  try {
    const macOnlyEncrypted = opts.macOnlyEncrypted ?? false;
    const { branches: sealed, mac } = encryptBranches(branches, { key, rules: new RuleSet(rules), macOnlyEncrypted, file: opts.file });
    const lastModified = rfc3339Now(opts.now);
    const metadata: SopsMetadata = {
      age: await wrapAll(key, opts.recipients),
      otherKeyTypes: [],
      lastModified,
      lastModifiedAad: goTimeRfc3339(lastModified)!,
      mac: sealMac(mac, key, lastModified),
      rules,
      macOnlyEncrypted,
      version: SOPS_FORMAT_VERSION,
      passthrough: [],
    };
    return emitSops(opts.format, sealed, metadata);
  } finally {
    key.fill(0);
  }
}

export interface UpdateKeysResult {
  bytes: Uint8Array;
  added: string[];
  removed: string[];
}

/**
 * Re-wrap the data key for exactly `recipients` (keeping the `enc` of those
 * already present). The file must decrypt and its MAC verify first.
 */
export async function updateKeys(
  bytes: Uint8Array,
  opts: { format: SopsFormat; identities: Identity[]; recipients: string[]; file?: string },
): Promise<UpdateKeysResult> {
  if (opts.recipients.length === 0) throw new SopsFormatError(opts.file, undefined, "expected at least one recipient");
  await decryptSopsFile(bytes, { format: opts.format, identities: opts.identities, file: opts.file }); // verifies the MAC
  const loaded = loadSops(bytes, opts.format, opts.file);
  const key = await unwrapDataKey(loaded.metadata.age, opts.identities, opts.file);
  try {
    const before = loaded.metadata.age.map((a) => a.recipient);
    const age = await wrapAll(key, opts.recipients, loaded.metadata.age);
    const after = age.map((a) => a.recipient);
    const metadata: SopsMetadata = { ...loaded.metadata, age };
    const branches: MapNode[] = loaded.branches;
    return {
      bytes: emitSops(opts.format, branches, metadata),
      added: after.filter((r) => !before.includes(r)),
      removed: before.filter((r) => !after.includes(r)),
    };
  } finally {
    key.fill(0);
  }
}
