/**
 * @module secrets/sops/extract
 * Picking one value out of a decrypted tree by key path and turning values
 * (or whole files) into the bytes that get installed.
 * Key paths: `a/b/c` (sops-nix), `a.b.c` (dots; a key that itself contains
 * dots still matches, longest key first), or sops' `["a"]["b"][0]`.
 */
import type { MapNode, Node } from "./tree.js";
import { entries, listItems } from "./tree.js";
import type { Decrypted } from "./reader.js";
import { emitYaml } from "./formats/yaml.js";
import { emitJson } from "./formats/json.js";
import { emitDotenv } from "./formats/dotenv.js";
import { goFormatFloatG } from "./go-format.js";
import { KeyPathNotFoundError, SopsFormatError } from "../errors.js";

type Seg = { key: string } | { index: number };

/** sops `--extract` syntax: `["a"]["b"][0]`. */
function parseBracketPath(p: string): Seg[] | undefined {
  const re = /\[(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|(\d+))\]/y;
  const out: Seg[] = [];
  let i = 0;
  while (i < p.length) {
    re.lastIndex = i;
    const m = re.exec(p);
    if (!m) return undefined;
    if (m[1] !== undefined) out.push({ key: JSON.parse(`"${m[1]}"`) as string });
    else if (m[2] !== undefined) out.push({ key: m[2] });
    else out.push({ index: Number(m[3]) });
    i = re.lastIndex;
  }
  return out;
}

function step(node: Node, seg: Seg): Node | undefined {
  if ("index" in seg) return node.kind === "list" ? listItems(node)[seg.index] : undefined;
  if (node.kind === "map") return entries(node).find((e) => e.key === seg.key)?.value;
  if (node.kind === "list" && /^\d+$/.test(seg.key)) return listItems(node)[Number(seg.key)];
  return undefined;
}

function walkParts(node: Node, parts: string[], joiner: string, keyPath: string, file: string | undefined): Node {
  if (parts.length === 0) return node;
  // Longest candidate first so a key like "db.password" wins over nested db → password.
  for (let n = parts.length; n >= 1; n--) {
    const next = step(node, { key: parts.slice(0, n).join(joiner) });
    if (next !== undefined) {
      try {
        return walkParts(next, parts.slice(n), joiner, keyPath, file);
      } catch (e) {
        if (!(e instanceof KeyPathNotFoundError) || n === 1) throw e;
      }
    }
  }
  throw new KeyPathNotFoundError(file, keyPath, parts[0]!);
}

/** Find `keyPath` in the decrypted documents (first document that has it). */
export function extract(tree: Decrypted | MapNode | MapNode[], keyPath: string, file?: string): Node {
  if (!Array.isArray(tree) && "format" in tree && tree.format === "binary") throw new SopsFormatError(file, keyPath, "a binary sops file has no keys; expected no key path");
  const docs: MapNode[] = Array.isArray(tree) ? tree : "documents" in tree ? tree.documents : [tree as MapNode];
  const bracket = keyPath.startsWith("[") ? parseBracketPath(keyPath) : undefined;
  let lastErr: unknown;
  for (const doc of docs) {
    try {
      if (bracket) {
        let cur: Node | undefined = doc;
        for (const seg of bracket) {
          cur = cur && step(cur, seg);
          if (cur === undefined) throw new KeyPathNotFoundError(file, keyPath, "key" in seg ? seg.key : `[${seg.index}]`);
        }
        return cur!;
      }
      const sep = keyPath.includes("/") ? "/" : ".";
      const parts = keyPath.split(sep).filter((p) => p !== "");
      if (parts.length === 0) throw new KeyPathNotFoundError(file, keyPath, keyPath);
      return walkParts(doc, parts, sep, keyPath, file);
    } catch (e) {
      lastErr = e;
    }
  }
  throw lastErr ?? new KeyPathNotFoundError(file, keyPath, keyPath);
}

/**
 * Bytes to install for one value: strings and bytes exactly, scalars in their
 * text form, maps/lists as a document in the file's format (JSON for json,
 * YAML otherwise).
 */
export function renderValue(node: Node, format: "yaml" | "json" | "dotenv" | "binary"): Uint8Array {
  switch (node.kind) {
    case "str":
      return Buffer.from(node.value, "utf8");
    case "bytes":
      return node.value;
    case "int":
      return Buffer.from(node.value.toString());
    case "float":
      return Buffer.from(goFormatFloatG(node.value));
    case "bool":
      return Buffer.from(node.value ? "true" : "false");
    case "time":
      return Buffer.from(node.value);
    case "null":
      return new Uint8Array(0);
    case "map":
    case "list":
      if (format === "json") return Buffer.from(`${emitJson(node)}\n`);
      if (node.kind === "map") return Buffer.from(emitYaml([node]));
      return Buffer.from(emitYaml([{ kind: "map", items: [{ kind: "entry", key: "value", value: node }] }]));
  }
}

/** The whole decrypted file in its own format (what `sops -d` prints). */
export function renderDecrypted(d: Decrypted): Uint8Array {
  switch (d.format) {
    case "binary":
      return d.data;
    case "yaml":
      return Buffer.from(emitYaml(d.documents));
    case "json":
      return Buffer.from(`${emitJson(d.documents[0]!)}\n`);
    case "dotenv":
      return Buffer.from(emitDotenv(d.documents[0]!));
  }
}
