/**
 * @module secrets/sops/formats/dotenv
 * The sops dotenv store: one `KEY=value` per line, `\n` escapes, `#` comment
 * lines, metadata flattened into `sops_*` keys (`sops_age__list_0__map_enc`).
 */
import type { MapNode, Node } from "../tree.js";
import { goFormatFloat } from "../go-format.js";

export class DotenvSyntaxError extends Error {}

export function loadDotenv(text: string): MapNode {
  const items: MapNode["items"] = [];
  let lineNo = 0;
  for (const line of text.split("\n")) {
    lineNo++;
    if (line.length === 0) continue;
    if (line[0] === "#") {
      items.push({ kind: "comment", value: line.slice(1), inline: false });
      continue;
    }
    const eq = line.indexOf("=");
    if (eq === -1) throw new DotenvSyntaxError(`invalid dotenv line ${lineNo}: expected KEY=VALUE`);
    items.push({ kind: "entry", key: line.slice(0, eq), value: { kind: "str", value: line.slice(eq + 1).replaceAll("\\n", "\n") } });
  }
  return { kind: "map", items };
}

/** stores.ValToString for non-string scalars. */
function valToString(v: Node): string {
  switch (v.kind) {
    case "str":
      return v.value.replaceAll("\n", "\\n");
    case "int":
      return v.value.toString();
    case "float": {
      // Go: FormatFloat 'G' -1, with ".0" added when it could be read as an int.
      const s = goFormatFloat(v.value);
      return /[.eE]/.test(s) || !Number.isFinite(v.value) ? s : `${s}.0`;
    }
    case "bool":
      return v.value ? "true" : "false";
    case "time":
      return v.value;
    case "bytes":
      return Buffer.from(v.value).toString("utf8").replaceAll("\n", "\\n");
    case "null":
      return "<nil>";
    default:
      throw new DotenvSyntaxError("cannot use a map or list value in a dotenv file");
  }
}

export function emitDotenv(branch: MapNode): string {
  let out = "";
  for (const item of branch.items) {
    if (item.kind === "comment") out += `#${item.value}\n`;
    else out += `${item.key}=${valToString(item.value)}\n`;
  }
  return out;
}

// ---- metadata flattening (stores/flatten.go) ----

const MAP_SEP = "__map_";
const LIST_SEP = "__list_";

type Token = { map: string } | { list: number };

function tokenize(path: string): Token[] {
  const tokens: Token[] = [];
  let state: "normal" | "map" | "list" = "normal";
  let last = 0;
  let i = 0;
  const finish = () => {
    if (state === "normal") tokens.push({ map: path.slice(last, i) });
    else if (state === "map") tokens.push({ map: path.slice(last + MAP_SEP.length, i) });
    else tokens.push({ list: Number.parseInt(path.slice(last + LIST_SEP.length, i), 10) || 0 });
    last = i;
  };
  while (i < path.length) {
    if (path.startsWith(MAP_SEP, i)) {
      finish();
      state = "map";
      i += MAP_SEP.length;
    } else if (path.startsWith(LIST_SEP, i)) {
      finish();
      state = "list";
      i += LIST_SEP.length;
    } else i++;
  }
  finish();
  return tokens;
}

interface Tmp {
  value?: Node;
  sub?: Map<string, Tmp>;
  idx?: Map<number, Tmp>;
}

function convert(t: Tmp): Node {
  const kinds = (t.value ? 1 : 0) + (t.sub?.size ? 1 : 0) + (t.idx?.size ? 1 : 0);
  if (kinds > 1) throw new DotenvSyntaxError("flattened sops metadata has a type mismatch");
  if (t.value) return t.value;
  if (t.sub?.size) {
    const keys = [...t.sub.keys()].sort();
    return { kind: "map", items: keys.map((k) => ({ kind: "entry" as const, key: k, value: convert(t.sub!.get(k)!) })) };
  }
  if (t.idx?.size) {
    const n = t.idx.size;
    const out: Node[] = [];
    for (let i = 0; i < n; i++) {
      const c = t.idx.get(i);
      if (!c) throw new DotenvSyntaxError("flattened sops metadata has an incomplete list");
      out.push(convert(c));
    }
    return { kind: "list", items: out };
  }
  return { kind: "map", items: [] };
}

/** Rebuild the nested metadata map from `sops_`-stripped flattened keys. */
export function unflatten(items: Array<{ key: string; value: Node }>): MapNode {
  const root: Tmp = {};
  for (const { key, value } of items) {
    let cur = root;
    for (const tok of tokenize(key)) {
      if ("map" in tok) {
        cur.sub ??= new Map();
        let next = cur.sub.get(tok.map);
        if (!next) cur.sub.set(tok.map, (next = {}));
        cur = next;
      } else {
        cur.idx ??= new Map();
        let next = cur.idx.get(tok.list);
        if (!next) cur.idx.set(tok.list, (next = {}));
        cur = next;
      }
    }
    if (cur.value) throw new DotenvSyntaxError(`duplicate flattened sops metadata key sops_${key}`);
    cur.value = value;
  }
  return convert(root) as MapNode;
}

/** Flatten a metadata map into `prefix`-ed keys, as stores.flattenTreeBranch does. */
export function flatten(n: MapNode, prefix: string): Array<{ key: string; value: Node }> {
  const out: Array<{ key: string; value: Node }> = [];
  const walk = (v: Node, key: string) => {
    if (v.kind === "map") for (const e of v.items) e.kind === "entry" && walk(e.value, `${key}${MAP_SEP}${e.key}`);
    else if (v.kind === "list") {
      let i = 0;
      for (const x of v.items) if (x.kind !== "comment") walk(x, `${key}${LIST_SEP}${i++}`);
    } else out.push({ key, value: v });
  };
  for (const e of n.items) if (e.kind === "entry") walk(e.value, `${prefix}${e.key}`);
  return out;
}
