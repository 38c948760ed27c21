/**
 * @module secrets/sops/walk
 * Walks a sops tree in document order, as getsops/sops' walkBranch/walkSlice
 * do, decrypting or encrypting each leaf and feeding the MAC: SHA-512 over the
 * Go text of every non-null, non-comment value (only the encrypted ones when
 * `mac_only_encrypted`, then seeded with SHA-256("sops")). List indices are not
 * part of the key path; the path joined with ":" plus a trailing ":" is the
 * AES-GCM additional data.
 */
import { createHash, type Hash } from "node:crypto";
import type { Comment, ListNode, MapNode, Node, Scalar } from "./tree.js";
import type { RuleSet } from "./rules.js";
import { EnvelopeError, decodePlain, macBytes, openEnvelope, parseEnvelope, sealValue } from "./enc-value.js";
import { MalformedValueError, UnknownValueTypeError } from "../errors.js";

/** sha256("sops"): sops seeds the MAC with it when mac_only_encrypted is set. */
const MAC_ONLY_ENCRYPTED_INIT = Buffer.from("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69", "hex");

type Leaf = Scalar | Comment;

/** Human-readable location: `a.b[2].c`, for messages only (the AAD ignores indices). */
export type PathLabel = readonly (string | number)[];
export function formatPath(p: PathLabel): string {
  let s = "";
  for (const seg of p) s += typeof seg === "number" ? `[${seg}]` : s === "" ? seg : `.${seg}`;
  return s;
}

class Walker {
  constructor(private readonly onLeaf: (leaf: Leaf, path: readonly string[], stack: readonly string[][], label: PathLabel) => Leaf) {}

  value(v: Node | Comment, path: string[], stack: string[][], label: (string | number)[]): Node | Comment {
    switch (v.kind) {
      case "map":
        return this.branch(v, path, stack, label);
      case "list":
        return this.slice(v, path, stack, label);
      case "null":
        return v; // sops neither encrypts nor MACs nil
      default:
        return this.onLeaf(v, path, stack, label);
    }
  }

  branch(m: MapNode, path: string[], stackIn: string[][], label: (string | number)[]): MapNode {
    const stack = [...stackIn, []];
    const top = stack.length - 1;
    const items: MapNode["items"] = [];
    for (const item of m.items) {
      if (item.kind === "comment") {
        stack[top] = [...stack[top]!, item.value];
        const out = this.onLeaf(item, path, stack, label);
        items.push(out.kind === "comment" ? { ...out, inline: item.inline } : { kind: "comment", value: String((out as { value: unknown }).value), inline: item.inline });
        continue;
      }
      const value = this.value(item.value, [...path, item.key], stack, [...label, item.key]) as Node;
      items.push({ kind: "entry", key: item.key, value });
      stack[top] = [];
    }
    return { kind: "map", items };
  }

  slice(l: ListNode, path: string[], stackIn: string[][], label: (string | number)[]): ListNode {
    const stack = [...stackIn, []];
    const top = stack.length - 1;
    const items: ListNode["items"] = [];
    let index = 0;
    for (const item of l.items) {
      if (item.kind === "comment") {
        stack[top] = [...stack[top]!, item.value];
        const out = this.onLeaf(item, path, stack, label);
        items.push(out.kind === "comment" ? { ...out, inline: item.inline } : { kind: "comment", value: String((out as { value: unknown }).value), inline: item.inline });
        continue;
      }
      items.push(this.value(item, path, stack, [...label, index]) as Node);
      index++;
      stack[top] = [];
    }
    return { kind: "list", items };
  }
}

export interface WalkOptions {
  key: Uint8Array;
  rules: RuleSet;
  macOnlyEncrypted: boolean;
  file?: string | undefined;
}

function newMac(macOnlyEncrypted: boolean): Hash {
  const h = createHash("sha512");
  if (macOnlyEncrypted) h.update(MAC_ONLY_ENCRYPTED_INIT);
  return h;
}

const aadOf = (path: readonly string[]): string => `${path.join(":")}:`;

/** Decrypt every branch; returns the plaintext branches and the computed MAC (uppercase hex). */
export function decryptBranches(branches: MapNode[], opts: WalkOptions): { branches: MapNode[]; mac: string } {
  const hash = newMac(opts.macOnlyEncrypted);
  const walker = new Walker((leaf, path, stack, label) => {
    const isComment = leaf.kind === "comment";
    const encrypted = opts.rules.shouldBeEncrypted(path, stack, isComment);
    let out: Leaf = leaf;
    let mac: Uint8Array | undefined;
    if (encrypted) {
      const where = formatPath(label);
      if (isComment) {
        // sops: an encrypted-position comment that does not decrypt was never encrypted (older sops); keep it.
        if (leaf.value !== "") {
          try {
            const dec = decodePlain(parseEnvelope(leaf.value).type, openEnvelope(parseEnvelope(leaf.value), opts.key, aadOf(path)));
            if (dec.ok) out = dec.value.kind === "comment" ? dec.value : { kind: "comment", value: Buffer.from(dec.mac).toString("utf8"), inline: leaf.inline };
          } catch {
            out = leaf;
          }
        }
      } else if (leaf.kind === "str") {
        if (leaf.value === "") {
          out = leaf; // sops stores empty strings unencrypted; they add nothing to the MAC
          mac = undefined;
        } else {
          let env;
          try {
            env = parseEnvelope(leaf.value);
          } catch (e) {
            throw new MalformedValueError(opts.file, where, `expected an encrypted value: ${(e as Error).message}`);
          }
          let raw: Buffer;
          try {
            raw = openEnvelope(env, opts.key, aadOf(path));
          } catch (e) {
            throw new MalformedValueError(
              opts.file,
              where,
              `value does not decrypt under the data key with key path "${aadOf(path)}" as additional data (moved, edited or swapped value)`,
              e instanceof EnvelopeError ? e : undefined,
            );
          }
          const dec = decodePlain(env.type, raw);
          if (!dec.ok) {
            if (dec.reason === "type") throw new UnknownValueTypeError(opts.file, where, dec.type);
            throw new MalformedValueError(opts.file, where, `decrypted value is not ${dec.expected} as its type:${env.type} declares`);
          }
          out = dec.value.kind === "comment" ? { kind: "str", value: dec.value.value } : dec.value;
          mac = dec.mac;
        }
      } else {
        throw new MalformedValueError(opts.file, where, `expected an ENC[...] string here, found a plaintext ${leaf.kind} (injected or unencrypted value)`);
      }
    } else if (!isComment) {
      mac = macBytes(leaf);
    }
    if ((!opts.macOnlyEncrypted || encrypted) && !isComment && mac !== undefined) hash.update(mac);
    return out;
  });
  const out = branches.map((b) => walker.branch(b, [], [], []));
  return { branches: out, mac: hash.digest("hex").toUpperCase() };
}

/** Encrypt every branch; returns the encrypted branches and the MAC of the plaintext. */
export function encryptBranches(branches: MapNode[], opts: WalkOptions): { branches: MapNode[]; mac: string } {
  const hash = newMac(opts.macOnlyEncrypted);
  const walker = new Walker((leaf, path, stack) => {
    const isComment = leaf.kind === "comment";
    const encrypted = opts.rules.shouldBeEncrypted(path, stack, isComment);
    if ((!opts.macOnlyEncrypted || encrypted) && !isComment) {
      const b = macBytes(leaf);
      if (b) hash.update(b);
    }
    if (!encrypted) return leaf;
    const sealed = sealValue(leaf, opts.key, aadOf(path));
    if (isComment) {
      if (opts.rules.rules.unencryptedCommentRegex && new RegExp(opts.rules.rules.unencryptedCommentRegex).test(sealed)) {
        throw new Error("an encrypted comment matches unencrypted_comment_regex; choose a regex that cannot match ENC[...] text");
      }
      return { kind: "comment", value: sealed, inline: leaf.inline };
    }
    return { kind: "str", value: sealed };
  });
  const out = branches.map((b) => walker.branch(b, [], [], []));
  return { branches: out, mac: hash.digest("hex").toUpperCase() };
}
