/**
 * Maps a data path inside a parsed YAML document (["hosts", 2, "hostKey"]) to
 * a line and column of the source, and formats such paths for people
 * ("hosts[2].hostKey"). Also finds duplicate mapping keys, with their paths,
 * because the yaml library reports those with an offset only.
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter, type Node, type Pair } from "yaml";

export type DataPath = (string | number)[];

/** Where an issue points: the value at the path, its key (unknown keys) or its parent (missing keys). */
export type Anchor = "value" | "key" | "parent";

export interface Position {
  line: number;
  col: number;
}

interface Step {
  node: Node | null;
  key?: Node;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

/** Follows `path` as far as the document goes; steps[0] is the root. */
function walk(doc: Document, path: DataPath): Step[] {
  const steps: Step[] = [{ node: (doc.contents as Node | null) ?? null }];
  let cur: unknown = doc.contents;
  for (const seg of path) {
    if (isMap(cur)) {
      // The last pair wins, as in the parsed data.
      const pair = [...cur.items].reverse().find((p) => keyText(p.key) === String(seg)) as Pair<Node, Node | null> | undefined;
      if (!pair) break;
      steps.push({ node: pair.value ?? null, key: pair.key });
      cur = pair.value;
    } else if (isSeq(cur) && typeof seg === "number" && cur.items[seg] !== undefined) {
      const item = cur.items[seg] as Node;
      steps.push({ node: item });
      cur = item;
    } else {
      break;
    }
  }
  return steps;
}

function start(node: Node | null | undefined): number | undefined {
  const r = node?.range;
  if (!r) return undefined;
  // An empty value (`user:` with nothing after it) has an empty range; point at the key instead.
  if (isScalar(node) && node.value === null && r[0] === r[1]) return undefined;
  return r[0];
}

/** The offset of a step as an anchor for its parent's problems: its key if it has one, else the node. */
function stepOffset(step: Step): number | undefined {
  return start(step.key) ?? start(step.node);
}

export function locate(doc: Document, lineCounter: LineCounter, path: DataPath, anchor: Anchor): Position {
  const steps = walk(doc, path);
  const resolved = steps.length - 1 === path.length;
  let offset: number | undefined;
  if (resolved && anchor === "key") offset = start(steps[steps.length - 1]!.key) ?? stepOffset(steps[steps.length - 1]!);
  else if (resolved && anchor === "value") offset = start(steps[steps.length - 1]!.node) ?? stepOffset(steps[steps.length - 1]!);
  else {
    // Missing (or unresolvable) path: point at the deepest existing ancestor.
    const parent = steps[Math.min(steps.length - 1, Math.max(0, path.length - 1))]!;
    offset = stepOffset(parent);
  }
  if (offset === undefined) return { line: 1, col: 1 };
  return lineCounter.linePos(offset);
}

/** "hosts[2].hostKey"; odd keys are JSON-quoted and long ones cut. */
export function formatPath(path: DataPath): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg.length > 60 ? seg.slice(0, 57) + "..." : seg)}]`;
  }
  return out;
}

export interface DuplicateKey {
  path: DataPath;
  offset: number;
  firstOffset: number;
}

/** Every repeated key of every mapping (YAML forbids them; silently keeping the last one hides mistakes). */
export function findDuplicateKeys(doc: Document): DuplicateKey[] {
  const out: DuplicateKey[] = [];
  const visit = (node: unknown, path: DataPath): void => {
    if (isMap(node)) {
      const seen = new Map<string, number>();
      for (const pair of node.items) {
        const k = keyText(pair.key);
        const off = (pair.key as Node | null)?.range?.[0] ?? 0;
        if (k !== undefined) {
          const first = seen.get(k);
          if (first !== undefined) out.push({ path: [...path, k], offset: off, firstOffset: first });
          else seen.set(k, off);
        }
        visit(pair.value, k === undefined ? path : [...path, k]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]));
    }
  };
  visit(doc.contents, []);
  return out;
}
