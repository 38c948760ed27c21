/**
 * @module secrets/sops/tree
 * The typed, ordered tree a sops file decodes to, mirroring getsops/sops'
 * `TreeBranch` (ordered key/value items, comments as items) so the MAC can be
 * computed over values in document order. Both the encrypted tree (leaves are
 * `ENC[...]` strings) and the decrypted tree use these types.
 */

export type Scalar =
  | { kind: "str"; value: string }
  /** Go `int` (64-bit); kept as bigint so large integers stay intact. */
  | { kind: "int"; value: bigint }
  | { kind: "float"; value: number }
  | { kind: "bool"; value: boolean }
  /** RFC 3339 text, normalised as Go's time.MarshalText writes it. */
  | { kind: "time"; value: string }
  | { kind: "bytes"; value: Uint8Array }
  | { kind: "null" };

export interface Comment {
  kind: "comment";
  /** Text after the `#`. */
  value: string;
  inline: boolean;
}

export interface MapEntry {
  kind: "entry";
  key: string;
  value: Node;
}

export interface MapNode {
  kind: "map";
  items: Array<MapEntry | Comment>;
}

export interface ListNode {
  kind: "list";
  items: Array<Node | Comment>;
}

export type Node = Scalar | MapNode | ListNode;

export const str = (value: string): Scalar => ({ kind: "str", value });
export const isComment = (x: { kind: string }): x is Comment => x.kind === "comment";

/** Entries of a map, comments skipped. */
export function entries(map: MapNode): MapEntry[] {
  return map.items.filter((i): i is MapEntry => i.kind === "entry");
}

/** List items, comments skipped. */
export function listItems(list: ListNode): Node[] {
  return list.items.filter((i): i is Node => i.kind !== "comment");
}

export function getEntry(map: MapNode, key: string): MapEntry | undefined {
  return entries(map).find((e) => e.key === key);
}

/**
 * Plain JS value for tests and JSON output. Maps become objects (note: JS
 * objects put integer-like keys first; use the tree or `toJsonText` when key
 * order matters). int becomes number when safe, bigint otherwise; bytes stay
 * Uint8Array; comments are dropped.
 */
export function toPlain(node: Node): unknown {
  switch (node.kind) {
    case "str":
    case "float":
    case "bool":
    case "time":
    case "bytes":
      return node.value;
    case "int":
      return node.value >= BigInt(Number.MIN_SAFE_INTEGER) && node.value <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(node.value)
        : node.value;
    case "null":
      return null;
    case "list":
      return listItems(node).map(toPlain);
    case "map": {
      const out: Record<string, unknown> = {};
      for (const e of entries(node)) out[e.key] = toPlain(e.value);
      return out;
    }
  }
}
