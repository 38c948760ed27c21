/**
 * @module secrets/sops/load
 * Bytes of a sops file → encrypted tree branches + parsed metadata, per store
 * (yaml, json, dotenv, binary), and back (emit). Mirrors sops' stores:
 * `sops:` lives in the first YAML document (and is stripped from all), dotenv
 * flattens it into `sops_*` keys, binary is a JSON `{data, sops}` envelope.
 */
import type { MapNode, Node } from "./tree.js";
import { entries } from "./tree.js";
import { parseMetadata, serializeMetadata, MetadataError, type SopsMetadata } from "./metadata.js";
import { emitYaml, loadYaml, YamlSyntaxError } from "./formats/yaml.js";
import { emitJson, JsonSyntaxError, loadJson } from "./formats/json.js";
import { DotenvSyntaxError, emitDotenv, flatten, loadDotenv, unflatten } from "./formats/dotenv.js";
import { SopsFormatError } from "../errors.js";

export type SopsFormat = "yaml" | "json" | "dotenv" | "binary";
export const SOPS_FORMATS: readonly SopsFormat[] = ["yaml", "json", "dotenv", "binary"];

/** sops' own rule: by extension, anything else is binary. */
export function formatFromPath(path: string): SopsFormat {
  if (/\.ya?ml$/i.test(path)) return "yaml";
  if (/\.json$/i.test(path)) return "json";
  if (/\.env$/i.test(path)) return "dotenv";
  return "binary";
}

export interface LoadedSops {
  format: SopsFormat;
  branches: MapNode[];
  metadata: SopsMetadata;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function text(bytes: Uint8Array, file: string | undefined): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new SopsFormatError(file, undefined, "expected UTF-8 text");
  }
}

/** Parse a plaintext (or encrypted) document into branches, without metadata handling. */
export function parseBranches(bytes: Uint8Array, format: SopsFormat, file: string | undefined): MapNode[] {
  try {
    switch (format) {
      case "yaml":
        return loadYaml(text(bytes, file));
      case "json":
        return [loadJson(text(bytes, file))];
      case "dotenv":
        return [loadDotenv(text(bytes, file))];
      case "binary":
        return [{ kind: "map", items: [{ kind: "entry", key: "data", value: { kind: "bytes", value: bytes } }] }];
    }
  } catch (e) {
    if (e instanceof YamlSyntaxError) throw new SopsFormatError(file, e.path, e.message);
    if (e instanceof JsonSyntaxError || e instanceof DotenvSyntaxError) throw new SopsFormatError(file, undefined, e.message);
    throw e;
  }
}

export function loadSops(bytes: Uint8Array, format: SopsFormat, file: string | undefined): LoadedSops {
  // The binary store's encrypted form is a JSON envelope.
  const branches = format === "binary" ? parseBranches(bytes, "json", file) : parseBranches(bytes, format, file);
  let meta: MapNode | undefined;
  if (format === "dotenv") {
    const b = branches[0]!;
    const flat = entries(b)
      .filter((e) => e.key.startsWith("sops_"))
      .map((e) => ({ key: e.key.slice(5), value: e.value }));
    b.items = b.items.filter((i) => !(i.kind === "entry" && i.key.startsWith("sops_")));
    if (flat.length) {
      try {
        meta = unflatten(flat);
      } catch (e) {
        throw new SopsFormatError(file, "sops_*", (e as Error).message);
      }
    }
  } else {
    branches.forEach((b, bi) => {
      const found = entries(b).filter((e) => e.key === "sops");
      if (bi === 0) {
        if (found.length > 1) throw new SopsFormatError(file, "sops", "found duplicate sops entry");
        if (found[0]) {
          if (found[0].value.kind !== "map") throw new SopsFormatError(file, "sops", "expected the sops entry to be a mapping");
          meta = found[0].value;
        }
      }
      b.items = b.items.filter((i) => !(i.kind === "entry" && i.key === "sops"));
    });
  }
  if (!meta) throw new SopsFormatError(file, "sops", "sops metadata not found; expected a file encrypted by sops");
  let metadata: SopsMetadata;
  try {
    metadata = parseMetadata(meta);
  } catch (e) {
    if (e instanceof MetadataError) throw new SopsFormatError(file, e.path, e.message);
    throw e;
  }
  return { format, branches, metadata };
}

/** Emit branches (plaintext or encrypted) in `format`, with the metadata block when given. */
export function emitSops(format: SopsFormat, branches: MapNode[], metadata?: SopsMetadata): Uint8Array {
  const md = metadata ? serializeMetadata(metadata) : undefined;
  const withMeta = (b: MapNode): MapNode => (md ? { kind: "map", items: [...b.items, { kind: "entry", key: "sops", value: md }] } : b);
  switch (format) {
    case "yaml":
      return Buffer.from(emitYaml(branches.map((b, i) => (i === 0 ? withMeta(b) : b))));
    case "json":
    case "binary":
      return Buffer.from(`${emitJson(withMeta(branches[0]!))}\n`);
    case "dotenv": {
      const b = branches[0]!;
      const flat: MapNode["items"] = md ? flatten(md, "sops_").map(({ key, value }) => ({ kind: "entry" as const, key, value: dotenvMeta(value) })) : [];
      return Buffer.from(emitDotenv({ kind: "map", items: [...b.items, ...flat] }));
    }
  }
}

function dotenvMeta(v: Node): Node {
  return v.kind === "bool" ? { kind: "str", value: v.value ? "true" : "false" } : v;
}
