/**
 * @module secrets/sops/formats/yaml
 * YAML (multi-document) to and from the sops tree, resolving plain scalars the
 * way go-yaml v3 does when decoding into `interface{}` (which is what sops
 * hashes): `1_000` and `0x1F` are ints, `yes` is a string, timestamps stay
 * strings. Parsing uses the `yaml` package's failsafe schema so every scalar
 * arrives as its source text and the resolution below is the only one.
 */
import { Alias, Document, isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments, Pair, Scalar as YScalar, YAMLMap, YAMLSeq } from "yaml";
import type { Comment, ListNode, MapNode, Node, Scalar } from "../tree.js";
import { goFormatFloatG, goParseFloat } from "../go-format.js";

export class YamlSyntaxError extends Error {
  constructor(
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** Go strconv.ParseInt(s, 0, 64) then ParseUint(s, 0, 64), as yaml.v3's resolver tries them. */
function goParseIntBase0(s: string): bigint | undefined {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return undefined;
  const body = m[2]!;
  let v: bigint;
  if (/^0[oO]/.test(body)) v = BigInt(`0o${body.slice(2)}`);
  else if (/^0[0-7]+$/.test(body)) v = BigInt(`0o${body.slice(1)}`);
  else v = BigInt(body);
  if (m[1] === "-") v = -v;
  if (v < INT64_MIN || v > UINT64_MAX || (m[1] === "-" && v < INT64_MIN)) return undefined;
  if (m[1] === "+" && v > UINT64_MAX) return undefined;
  return v;
}

const YAML_STYLE_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;

/** go-yaml v3 `resolve()` for an untagged plain scalar, decoded into interface{}. */
export function resolvePlain(s: string): Scalar {
  switch (s) {
    case "":
    case "~":
    case "null":
    case "Null":
    case "NULL":
      return { kind: "null" };
    case "true":
    case "True":
    case "TRUE":
      return { kind: "bool", value: true };
    case "false":
    case "False":
    case "FALSE":
      return { kind: "bool", value: false };
    case ".nan":
    case ".NaN":
    case ".NAN":
      return { kind: "float", value: Number.NaN };
    case ".inf":
    case ".Inf":
    case ".INF":
    case "+.inf":
    case "+.Inf":
    case "+.INF":
      return { kind: "float", value: Infinity };
    case "-.inf":
    case "-.Inf":
    case "-.INF":
      return { kind: "float", value: -Infinity };
  }
  const c = s[0]!;
  if (c === ".") {
    const f = goParseFloat(s);
    if (f !== undefined) return { kind: "float", value: f };
  } else if (c === "+" || c === "-" || (c >= "0" && c <= "9")) {
    const plain = s.replace(/_/g, "");
    const i = goParseIntBase0(plain);
    if (i !== undefined) return { kind: "int", value: i };
    if (YAML_STYLE_FLOAT.test(plain)) {
      const f = goParseFloat(plain);
      if (f !== undefined) return { kind: "float", value: f };
    }
  }
  return { kind: "str", value: s };
}

function commentLines(text: string | null | undefined, inline: boolean): Comment[] {
  if (!text) return [];
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((value) => ({ kind: "comment" as const, value, inline }));
}

type YNode = YScalar | YAMLMap | YAMLSeq | Alias | null | undefined;

function scalarOf(n: YScalar, where: string): Scalar {
  const v = n.value;
  if (typeof v !== "string") return { kind: "null" };
  if (n.type === "PLAIN" && (n.tag === undefined || n.tag === null)) return resolvePlain(v);
  if (n.tag && n.tag !== "tag:yaml.org,2002:str" && n.tag !== "!") throw new YamlSyntaxError(`unsupported tag ${n.tag}`, where);
  return { kind: "str", value: v };
}

class Loader {
  constructor(private readonly doc: Document.Parsed) {}

  private deref(n: YNode): YNode {
    let cur = n;
    for (let i = 0; i < 64 && isAlias(cur); i++) cur = cur.resolve(this.doc) as YNode;
    return cur;
  }

  value(n: YNode, where: string): Node {
    const node = this.deref(n);
    if (node === null || node === undefined) return { kind: "null" };
    if (isMap(node)) return this.map(node, where);
    if (isSeq(node)) return this.seq(node, where);
    if (isScalar(node)) return scalarOf(node, where);
    throw new YamlSyntaxError("unsupported YAML node", where);
  }

  map(m: YAMLMap, where: string): MapNode {
    const items: MapNode["items"] = [];
    for (const pair of m.items) {
      if (!isPair(pair)) continue;
      const keyNode = this.deref(pair.key as YNode);
      if (!isScalar(keyNode)) throw new YamlSyntaxError("expected a string key, found a collection key", where);
      const key = scalarOf(keyNode, where);
      const keyLabel = key.kind === "str" ? key.value : String((keyNode as YScalar).value);
      if (key.kind !== "str") {
        // sops: "Tree contains a non-string key ... Only string keys are supported"
        throw new YamlSyntaxError(`key "${keyLabel}" is a ${key.kind}, not a string (quote it)`, where ? `${where}.${keyLabel}` : keyLabel);
      }
      items.push(...commentLines(keyNode.commentBefore, false));
      const v = pair.value as YNode;
      const isLeaf = !isMap(v) && !isSeq(v);
      if (isLeaf && v) {
        items.push(...commentLines((v as YScalar).commentBefore, false));
        items.push(...commentLines((v as YScalar).comment, true));
      }
      const path = where ? `${where}.${key.value}` : key.value;
      items.push({ kind: "entry", key: key.value, value: this.value(v, path) });
      if (!isLeaf && v) items.push(...commentLines((v as YAMLMap).comment, false));
    }
    return { kind: "map", items };
  }

  seq(s: YAMLSeq, where: string): ListNode {
    const items: ListNode["items"] = [];
    let i = 0;
    for (const raw of s.items as YNode[]) {
      const n = raw as YScalar | YAMLMap | YAMLSeq | null;
      if (n && !isPair(n)) {
        items.push(...commentLines(n.commentBefore, false));
        if (isScalar(n)) items.push(...commentLines(n.comment, true));
      }
      items.push(this.value(n, `${where}[${i}]`));
      if (n && (isMap(n) || isSeq(n))) items.push(...commentLines(n.comment, false));
      i++;
    }
    items.push(...commentLines(s.comment, false));
    return { kind: "list", items };
  }

  document(): MapNode {
    const c = this.doc.contents as YNode;
    const items: MapNode["items"] = [...commentLines(this.doc.commentBefore, false)];
    const root = this.deref(c);
    if (root === null || root === undefined || (isScalar(root) && root.type === "PLAIN" && resolvePlain(String(root.value)).kind === "null")) {
      // an empty document (or a lone null) is an empty branch, as in sops
    } else if (isMap(root)) {
      items.push(...commentLines(root.commentBefore, false), ...this.map(root, "").items, ...commentLines(root.comment, false));
    } else if (isSeq(root)) {
      throw new YamlSyntaxError("YAML documents that are sequences are not supported");
    } else {
      throw new YamlSyntaxError("YAML documents that are values are not supported");
    }
    items.push(...commentLines(this.doc.comment, false));
    return { kind: "map", items };
  }
}

/** Parse YAML text into one branch per document. Error messages carry positions, never source text. */
export function loadYaml(text: string): MapNode[] {
  const docs = parseAllDocuments(text, { schema: "failsafe", uniqueKeys: true, prettyErrors: false, strict: true });
  if (!Array.isArray(docs)) return [];
  const out: MapNode[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      throw new YamlSyntaxError(`YAML syntax error ${err.code}${pos ? ` at line ${pos.line}, column ${pos.col}` : ""}`);
    }
    out.push(new Loader(doc).document());
  }
  return out;
}

// ---- emitting ----

function toYamlScalar(s: Scalar): YScalar {
  switch (s.kind) {
    case "str": {
      const n = new YScalar(s.value);
      // Quote anything go-yaml v3 would read back as another type.
      if (resolvePlain(s.value).kind !== "str" || /^\d{4}-\d\d?-\d\d?([Tt ]|$)/.test(s.value)) n.type = "QUOTE_DOUBLE";
      return n;
    }
    case "int": {
      const n = new YScalar(s.value);
      n.source = s.value.toString();
      return n;
    }
    case "float": {
      const t = goFormatFloatG(s.value);
      const n = new YScalar(s.value);
      n.source = t === "+Inf" ? ".inf" : t === "-Inf" ? "-.inf" : t === "NaN" ? ".nan" : t;
      return n;
    }
    case "bool":
      return new YScalar(s.value);
    case "time": {
      const n = new YScalar(s.value);
      return n;
    }
    case "bytes":
      return toYamlScalar({ kind: "str", value: Buffer.from(s.value).toString("utf8") });
    case "null":
      return new YScalar(null);
  }
}

function toYaml(n: Node): YScalar | YAMLMap | YAMLSeq {
  if (n.kind === "map") {
    const m = new YAMLMap();
    let pending: string[] = [];
    for (const item of n.items) {
      if (item.kind === "comment") {
        pending.push(item.value);
        continue;
      }
      const k = toYamlScalar({ kind: "str", value: item.key });
      if (pending.length) k.commentBefore = pending.join("\n");
      pending = [];
      m.items.push(new Pair(k, toYaml(item.value)));
    }
    if (pending.length) m.comment = pending.join("\n");
    return m;
  }
  if (n.kind === "list") {
    const l = new YAMLSeq();
    let pending: string[] = [];
    for (const item of n.items) {
      if (item.kind === "comment") {
        pending.push(item.value);
        continue;
      }
      const y = toYaml(item);
      if (pending.length) y.commentBefore = pending.join("\n");
      pending = [];
      l.items.push(y);
    }
    if (pending.length) l.comment = pending.join("\n");
    return l;
  }
  return toYamlScalar(n);
}

/** Emit branches as YAML documents (4-space indent, as sops writes). */
export function emitYaml(branches: MapNode[]): string {
  return branches
    .map((b) => {
      const doc = new Document(null, { version: "1.2" });
      doc.contents = toYaml(b) as YAMLMap;
      return doc.toString({ indent: 4, indentSeq: true, lineWidth: 0, minContentWidth: 0 });
    })
    .join("---\n");
}

