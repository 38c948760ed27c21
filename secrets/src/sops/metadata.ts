/**
 * @module secrets/sops/metadata
 * The `sops:` metadata block: age key entries, lastmodified, MAC, encryption
 * rules, mac_only_encrypted and version. Only age master keys are used here;
 * PGP/KMS entries are kept for messages and re-emitted unchanged.
 */
import type { MapNode, Node } from "./tree.js";
import { entries, getEntry } from "./tree.js";
import { RuleSet, type CryptRules } from "./rules.js";
import { goTimeRfc3339 } from "./go-format.js";

export interface AgeKeyEntry {
  recipient: string;
  enc: string;
}

export interface SopsMetadata {
  /** age entries of the (single) key group. */
  age: AgeKeyEntry[];
  /** Names of other master-key types present (pgp, kms…), for messages. */
  otherKeyTypes: string[];
  lastModified: string;
  /** lastmodified as Go's RFC 3339 formatting: the MAC's additional data. */
  lastModifiedAad: string;
  mac: string;
  rules: CryptRules;
  macOnlyEncrypted: boolean;
  version: string;
  /** Untouched metadata entries we do not interpret (pgp, kms…), re-emitted as-is. */
  passthrough: MapNode["items"];
}

export class MetadataError extends Error {
  constructor(
    message: string,
    readonly path = "sops",
  ) {
    super(message);
  }
}

const KEY_TYPES = ["kms", "gcp_kms", "hckms", "azure_kv", "hc_vault", "pgp"];

function scalarText(n: Node | undefined): string | undefined {
  if (!n) return undefined;
  switch (n.kind) {
    case "str":
    case "time":
      return n.value;
    case "int":
      return n.value.toString();
    case "float":
    case "bool":
      return String(n.value);
    default:
      return undefined;
  }
}

function stringField(m: MapNode, key: string): string | undefined {
  const e = getEntry(m, key);
  if (!e || e.value.kind === "null") return undefined;
  const t = scalarText(e.value);
  if (t === undefined) throw new MetadataError(`expected a string`, `sops.${key}`);
  return t;
}

function isNonEmptyList(n: Node | undefined): boolean {
  return n?.kind === "list" && n.items.some((i) => i.kind !== "comment");
}

function ageEntries(n: Node | undefined, path: string): AgeKeyEntry[] {
  if (!n || n.kind === "null") return [];
  if (n.kind !== "list") throw new MetadataError("expected a list of {recipient, enc}", path);
  const out: AgeKeyEntry[] = [];
  let i = 0;
  for (const item of n.items) {
    if (item.kind === "comment") continue;
    if (item.kind !== "map") throw new MetadataError("expected {recipient, enc}", `${path}[${i}]`);
    const recipient = stringField(item, "recipient");
    const enc = stringField(item, "enc");
    if (!recipient || !enc) throw new MetadataError("expected recipient and enc", `${path}[${i}]`);
    out.push({ recipient, enc });
    i++;
  }
  return out;
}

/** Interpret the metadata map (already unflattened for dotenv). */
export function parseMetadata(m: MapNode): SopsMetadata {
  const lastModified = stringField(m, "lastmodified");
  if (lastModified === undefined) throw new MetadataError("expected lastmodified", "sops.lastmodified");
  const lastModifiedAad = goTimeRfc3339(lastModified);
  if (lastModifiedAad === undefined) throw new MetadataError("expected an RFC 3339 time", "sops.lastmodified");
  const mac = stringField(m, "mac") ?? "";
  const version = stringField(m, "version") ?? "";
  const rules: CryptRules = {
    unencryptedSuffix: stringField(m, "unencrypted_suffix"),
    encryptedSuffix: stringField(m, "encrypted_suffix"),
    unencryptedRegex: stringField(m, "unencrypted_regex"),
    encryptedRegex: stringField(m, "encrypted_regex"),
    unencryptedCommentRegex: stringField(m, "unencrypted_comment_regex"),
    encryptedCommentRegex: stringField(m, "encrypted_comment_regex"),
  };
  const count = RuleSet.count(rules);
  if (count > 1)
    throw new MetadataError(
      "expected at most one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, unencrypted_comment_regex",
    );
  if (count === 0) rules.unencryptedSuffix = "_unencrypted";
  const macOnly = stringField(m, "mac_only_encrypted");
  const macOnlyEncrypted = macOnly === undefined ? false : ["1", "t", "T", "true", "TRUE", "True"].includes(macOnly);

  const topLevelKeys = KEY_TYPES.some((k) => isNonEmptyList(getEntry(m, k)?.value)) || isNonEmptyList(getEntry(m, "age")?.value);
  let age: AgeKeyEntry[] = [];
  const otherKeyTypes: string[] = [];
  if (topLevelKeys) {
    age = ageEntries(getEntry(m, "age")?.value, "sops.age");
    for (const k of KEY_TYPES) if (isNonEmptyList(getEntry(m, k)?.value)) otherKeyTypes.push(k);
  } else {
    const groups = getEntry(m, "key_groups")?.value;
    if (!isNonEmptyList(groups)) throw new MetadataError("no keys found in file (expected sops.age or sops.key_groups)", "sops");
    const gs = (groups as { items: Node[] }).items.filter((g) => g.kind !== ("comment" as string));
    if (gs.length > 1) throw new MetadataError(`expected a single key group; ${gs.length} groups (Shamir secret sharing) are not supported`, "sops.key_groups");
    const g = gs[0]!;
    if (g.kind !== "map") throw new MetadataError("expected a key group map", "sops.key_groups[0]");
    age = ageEntries(getEntry(g, "age")?.value, "sops.key_groups[0].age");
    for (const k of KEY_TYPES) if (isNonEmptyList(getEntry(g, k)?.value)) otherKeyTypes.push(k);
  }
  const known = new Set(["age", "lastmodified", "mac", "version", "unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex", "unencrypted_comment_regex", "encrypted_comment_regex", "mac_only_encrypted"]);
  const passthrough = entries(m).filter((e) => !known.has(e.key));
  return { age, otherKeyTypes, lastModified, lastModifiedAad, mac, rules, macOnlyEncrypted, version, passthrough };
}

const s = (value: string): Node => ({ kind: "str", value });

/**
 * Build the metadata map in the field order sops writes (its struct order):
 * key groups/kms…, age, lastmodified, mac, pgp, rules, mac_only_encrypted, version.
 */
export function serializeMetadata(md: SopsMetadata): MapNode {
  const items: MapNode["items"] = [];
  const pass = new Map(md.passthrough.flatMap((e) => (e.kind === "entry" ? [[e.key, e] as const] : [])));
  const take = (k: string) => {
    const e = pass.get(k);
    if (e && !(e.value.kind === "null")) items.push(e);
    pass.delete(k);
  };
  for (const k of ["shamir_threshold", "key_groups", "kms", "gcp_kms", "hckms", "azure_kv", "hc_vault"]) take(k);
  if (md.age.length)
    items.push({
      kind: "entry",
      key: "age",
      value: {
        kind: "list",
        items: md.age.map((a) => ({
          kind: "map" as const,
          items: [
            { kind: "entry" as const, key: "recipient", value: s(a.recipient) },
            { kind: "entry" as const, key: "enc", value: s(a.enc) },
          ],
        })),
      },
    });
  items.push({ kind: "entry", key: "lastmodified", value: s(md.lastModified) });
  items.push({ kind: "entry", key: "mac", value: s(md.mac) });
  take("pgp");
  const r = md.rules;
  const rule = (k: string, v: string | undefined) => v && items.push({ kind: "entry", key: k, value: s(v) });
  rule("unencrypted_suffix", r.unencryptedSuffix);
  rule("encrypted_suffix", r.encryptedSuffix);
  rule("unencrypted_regex", r.unencryptedRegex);
  rule("encrypted_regex", r.encryptedRegex);
  rule("unencrypted_comment_regex", r.unencryptedCommentRegex);
  rule("encrypted_comment_regex", r.encryptedCommentRegex);
  if (md.macOnlyEncrypted) items.push({ kind: "entry", key: "mac_only_encrypted", value: { kind: "bool", value: true } });
  for (const e of pass.values()) if (e.value.kind !== "null") items.push(e);
  items.push({ kind: "entry", key: "version", value: s(md.version) });
  return { kind: "map", items };
}

/** True when `v` is an older sops version than `than` (dotted numeric compare). */
export function versionLess(v: string, than: string): boolean {
  const a = v.split(".").map((x) => Number.parseInt(x, 10) || 0);
  const b = than.split(".").map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  }
  return false;
}
