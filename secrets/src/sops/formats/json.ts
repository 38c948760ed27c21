/**
 * @module secrets/sops/formats/json
 * JSON to and from the sops tree with key order kept and numbers taken from
 * their source text (sops >= 3.13.2 reads an integer that fits int64 as int,
 * everything else as float64), so large integers stay intact.
 */
import type { ListNode, MapNode, Node, Scalar } from "../tree.js";

export class JsonSyntaxError extends Error {}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

class Parser {
  i = 0;
  constructor(private readonly s: string) {}

  fail(expected: string): never {
    throw new JsonSyntaxError(`invalid JSON at offset ${this.i}: expected ${expected}`);
  }
  ws(): void {
    while (this.i < this.s.length && " \t\n\r".includes(this.s[this.i]!)) this.i++;
  }
  value(): Node {
    this.ws();
    const c = this.s[this.i];
    if (c === "{") return this.object();
    if (c === "[") return this.array();
    if (c === '"') return { kind: "str", value: this.string() };
    if (this.s.startsWith("true", this.i)) return (this.i += 4), { kind: "bool", value: true };
    if (this.s.startsWith("false", this.i)) return (this.i += 5), { kind: "bool", value: false };
    if (this.s.startsWith("null", this.i)) return (this.i += 4), { kind: "null" };
    return this.number();
  }
  number(): Scalar {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 1024));
    if (!m || m[0] === "") this.fail("a value");
    this.i += m[0].length;
    const text = m[0];
    if (m[2] === undefined && m[3] === undefined) {
      const v = BigInt(text);
      if (v >= INT64_MIN && v <= INT64_MAX) return { kind: "int", value: v };
    }
    return { kind: "float", value: Number(text) };
  }
  string(): string {
    if (this.s[this.i] !== '"') this.fail("a string");
    const start = this.i;
    this.i++;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === '"') {
        this.i++;
        try {
          return JSON.parse(this.s.slice(start, this.i)) as string;
        } catch {
          this.i = start;
          this.fail("a valid string");
        }
      }
      if (c === "\\") this.i += 2;
      else if (c < " ") this.fail("no control characters in strings");
      else this.i++;
    }
    return this.fail("a closing quote");
  }
  object(): MapNode {
    this.i++;
    const items: MapNode["items"] = [];
    this.ws();
    if (this.s[this.i] === "}") return this.i++, { kind: "map", items };
    for (;;) {
      this.ws();
      const key = this.string();
      this.ws();
      if (this.s[this.i] !== ":") this.fail('":"');
      this.i++;
      items.push({ kind: "entry", key, value: this.value() });
      this.ws();
      if (this.s[this.i] === ",") {
        this.i++;
        continue;
      }
      if (this.s[this.i] === "}") return this.i++, { kind: "map", items };
      this.fail('"," or "}"');
    }
  }
  array(): ListNode {
    this.i++;
    const items: Node[] = [];
    this.ws();
    if (this.s[this.i] === "]") return this.i++, { kind: "list", items };
    for (;;) {
      items.push(this.value());
      this.ws();
      if (this.s[this.i] === ",") {
        this.i++;
        continue;
      }
      if (this.s[this.i] === "]") return this.i++, { kind: "list", items };
      this.fail('"," or "]"');
    }
  }
}

/** Parse a JSON document whose top level must be an object, as sops requires. */
export function loadJson(text: string): MapNode {
  const p = new Parser(text);
  p.ws();
  if (text[p.i] !== "{") throw new JsonSyntaxError("sops JSON files must have a top-level object");
  const v = p.object();
  p.ws();
  if (p.i !== text.length) p.fail("end of input");
  return v;
}

function scalarJson(s: Scalar): string {
  switch (s.kind) {
    case "str":
    case "time":
      return JSON.stringify(s.value);
    case "int":
      return s.value.toString();
    case "float":
      if (!Number.isFinite(s.value)) throw new JsonSyntaxError("NaN and Inf cannot be written as JSON");
      return JSON.stringify(s.value);
    case "bool":
      return s.value ? "true" : "false";
    case "bytes":
      return JSON.stringify(Buffer.from(s.value).toString("utf8"));
    case "null":
      return "null";
  }
}

/** Emit JSON with key order kept (comments dropped), indented like sops (tab by default). */
export function emitJson(n: Node, indent = "\t", depth = 0): string {
  const pad = indent.repeat(depth + 1);
  const end = indent.repeat(depth);
  if (n.kind === "map") {
    const es = n.items.filter((i) => i.kind === "entry");
    if (es.length === 0) return "{}";
    return `{\n${es.map((e) => `${pad}${JSON.stringify(e.key)}: ${emitJson(e.value, indent, depth + 1)}`).join(",\n")}\n${end}}`;
  }
  if (n.kind === "list") {
    const xs = n.items.filter((i): i is Node => i.kind !== "comment");
    if (xs.length === 0) return "[]";
    return `[\n${xs.map((x) => `${pad}${emitJson(x, indent, depth + 1)}`).join(",\n")}\n${end}]`;
  }
  return scalarJson(n);
}
