/**
 * @module secrets/sops/reader
 * decryptSopsFile: load → unwrap data key → decrypt every value → verify the
 * MAC (always; there is no way to skip it) → typed tree or bytes.
 */
import { timingSafeEqual } from "node:crypto";
import type { Identity } from "../identities/types.js";
import type { MapNode, Node } from "./tree.js";
import { entries } from "./tree.js";
import { loadSops, type SopsFormat } from "./load.js";
import { versionLess, type SopsMetadata } from "./metadata.js";
import { unwrapDataKey } from "./data-key.js";
import { decryptBranches } from "./walk.js";
import { RuleSet } from "./rules.js";
import { EnvelopeError, decodePlain, openEnvelope, parseEnvelope } from "./enc-value.js";
import { MacMismatchError, SopsFormatError } from "../errors.js";

export interface DecryptOptions {
  format: SopsFormat;
  identities: Identity[];
  /** Path of the file, for messages. */
  file?: string | undefined;
}

export interface DecryptedTree {
  format: "yaml" | "json" | "dotenv";
  /** One branch per YAML document (one for json/dotenv), `sops` metadata removed. */
  documents: MapNode[];
  metadata: SopsMetadata;
}

export interface DecryptedBinary {
  format: "binary";
  data: Uint8Array;
  metadata: SopsMetadata;
}

export type Decrypted = DecryptedTree | DecryptedBinary;

/** sops < 3.13.2 read every JSON number as float64; the MAC of unencrypted numbers follows that. */
function numbersAsFloat(n: Node): Node {
  if (n.kind === "int") return { kind: "float", value: Number(n.value) };
  if (n.kind === "map") return { kind: "map", items: n.items.map((i) => (i.kind === "entry" ? { ...i, value: numbersAsFloat(i.value) } : i)) };
  if (n.kind === "list") return { kind: "list", items: n.items.map((i) => (i.kind === "comment" ? i : numbersAsFloat(i))) };
  return n;
}

function verifyMac(metadata: SopsMetadata, computed: string, key: Uint8Array, file: string | undefined): void {
  if (metadata.mac === "") throw new MacMismatchError(file, "the file has no MAC");
  let fileMac: string;
  try {
    const env = parseEnvelope(metadata.mac);
    const dec = decodePlain(env.type, openEnvelope(env, key, metadata.lastModifiedAad));
    if (!dec.ok || dec.value.kind !== "str") throw new EnvelopeError("the MAC is not a string");
    fileMac = dec.value.value;
  } catch (e) {
    throw new MacMismatchError(file, `cannot decrypt the stored MAC with lastmodified "${metadata.lastModifiedAad}" as additional data (lastmodified or mac edited)`, e instanceof EnvelopeError ? e : undefined);
  }
  const a = Buffer.from(fileMac);
  const b = Buffer.from(computed);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new MacMismatchError(file, "the MAC computed over the values does not equal the stored MAC");
  }
}

export async function decryptSopsFile(bytes: Uint8Array, opts: DecryptOptions & { format: "binary" }): Promise<DecryptedBinary>;
export async function decryptSopsFile(bytes: Uint8Array, opts: DecryptOptions & { format: "yaml" | "json" | "dotenv" }): Promise<DecryptedTree>;
export async function decryptSopsFile(bytes: Uint8Array, opts: DecryptOptions): Promise<Decrypted>;
export async function decryptSopsFile(bytes: Uint8Array, opts: DecryptOptions): Promise<Decrypted> {
  const { format, file } = opts;
  const loaded = loadSops(bytes, format, file);
  const { metadata } = loaded;
  let branches = loaded.branches;
  if ((format === "json" || format === "binary") && versionLess(metadata.version, "3.13.2")) branches = branches.map((b) => numbersAsFloat(b) as MapNode);
  const key = await unwrapDataKey(metadata.age, opts.identities, file);
  try {
    const { branches: plain, mac } = decryptBranches(branches, {
      key,
      rules: new RuleSet(metadata.rules),
      macOnlyEncrypted: metadata.macOnlyEncrypted,
      file,
    });
    verifyMac(metadata, mac, key, file);
    if (format === "binary") {
      const data = entries(plain[0]!).find((e) => e.key === "data")?.value;
      if (!data) throw new SopsFormatError(file, "data", "expected a data entry in the binary envelope");
      if (data.kind === "str") return { format, data: new Uint8Array(Buffer.from(data.value, "utf8")), metadata };
      if (data.kind === "bytes") return { format, data: data.value, metadata };
      throw new SopsFormatError(file, "data", `expected a string, found ${data.kind}`);
    }
    return { format, documents: plain, metadata };
  } finally {
    key.fill(0);
  }
}
