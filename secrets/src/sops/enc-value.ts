/**
 * @module secrets/sops/enc-value
 * The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` envelope of getsops/sops v3:
 * AES-256-GCM per value, a 32-byte IV, the key path (`a:b:c:`) as additional
 * data. Decryption returns the typed value plus the exact bytes the MAC hashes.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { isUtf8 } from "node:buffer";
import type { Comment, Scalar } from "./tree.js";
import { goAtoi, goFormatFloat, goParseBool, goParseFloat, goTimeMarshalText } from "./go-format.js";

export interface EncEnvelope {
  data: Uint8Array;
  iv: Uint8Array;
  tag: Uint8Array;
  type: string;
}

const PREFIX = "ENC[AES256_GCM,data:";
const LAST_QUAD = /^(?:[A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)$/;

export class EnvelopeError extends Error {}

/**
 * Padded standard base64, as Go's base64.StdEncoding accepts it (non-zero
 * trailing bits allowed). Validated by re-encoding, which is linear and fast
 * for the 1 MiB values of binary files, unlike a regex.
 */
function b64(field: string, s: string): Buffer {
  const bad = () => new EnvelopeError(`${field} is not valid base64`);
  if (s.length % 4 !== 0 || s.length === 0) throw bad();
  if (!LAST_QUAD.test(s.slice(-4))) throw bad();
  const buf = Buffer.from(s, "base64");
  const head = s.length - 4;
  if (buf.toString("base64", 0, (head / 4) * 3) !== s.slice(0, head)) throw bad();
  return buf;
}

export function isEncrypted(s: string): boolean {
  return s.startsWith("ENC[");
}

/** Parse the envelope. Throws EnvelopeError naming the broken field (never echoing the value). */
export function parseEnvelope(s: string): EncEnvelope {
  // Same split as sops' greedy `^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]`
  // (last separator wins), without regex backtracking over 1 MiB values.
  const shape = () => new EnvelopeError("expected ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>]");
  if (!s.startsWith(PREFIX) || !s.endsWith("]")) throw shape();
  const inner = s.slice(PREFIX.length, -1);
  const t = inner.lastIndexOf(",type:");
  const g = t > 0 ? inner.lastIndexOf(",tag:", t - 1) : -1;
  const v = g > 0 ? inner.lastIndexOf(",iv:", g - 1) : -1;
  if (v <= 0 || g <= v + 4 || t <= g + 5 || t + 6 >= inner.length) throw shape();
  return {
    data: b64("data", inner.slice(0, v)),
    iv: b64("iv", inner.slice(v + 4, g)),
    tag: b64("tag", inner.slice(g + 5, t)),
    type: inner.slice(t + 6),
  };
}

/** AES-256-GCM open; throws on authentication failure. Go concatenates data‖tag and takes the last 16 bytes as tag. */
export function openEnvelope(env: EncEnvelope, key: Uint8Array, aad: string): Buffer {
  const sealed = Buffer.concat([env.data, env.tag]);
  if (sealed.length < 16 || env.iv.length === 0) throw new EnvelopeError("ciphertext or iv too short");
  const d = createDecipheriv("aes-256-gcm", key, env.iv);
  d.setAAD(Buffer.from(aad, "utf8"));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}

export type Decoded =
  | { ok: true; value: Scalar | Comment; mac: Uint8Array }
  | { ok: false; reason: "type"; type: string }
  | { ok: false; reason: "value"; expected: string };

/** Interpret decrypted bytes per the envelope's type, as sops' aes.Cipher.Decrypt does. */
export function decodePlain(type: string, raw: Buffer): Decoded {
  if (type === "str") {
    // Not UTF-8: keep the exact bytes (Go strings are byte strings; the binary store relies on it).
    if (!isUtf8(raw)) return { ok: true, value: { kind: "bytes", value: new Uint8Array(raw.buffer, raw.byteOffset, raw.length) }, mac: raw };
    return { ok: true, value: { kind: "str", value: raw.toString("utf8") }, mac: raw };
  }
  const text = type === "bytes" ? "" : raw.toString("utf8");
  switch (type) {
    case "int": {
      const v = goAtoi(text);
      return v === undefined ? { ok: false, reason: "value", expected: "an int (Go strconv.Atoi)" } : { ok: true, value: { kind: "int", value: v }, mac: Buffer.from(v.toString()) };
    }
    case "float": {
      const v = goParseFloat(text);
      return v === undefined ? { ok: false, reason: "value", expected: "a float (Go strconv.ParseFloat)" } : { ok: true, value: { kind: "float", value: v }, mac: Buffer.from(goFormatFloat(v)) };
    }
    case "bool": {
      const v = goParseBool(text);
      return v === undefined ? { ok: false, reason: "value", expected: "a bool (Go strconv.ParseBool)" } : { ok: true, value: { kind: "bool", value: v }, mac: Buffer.from(v ? "True" : "False") };
    }
    case "time": {
      const v = goTimeMarshalText(text);
      return v === undefined ? { ok: false, reason: "value", expected: "an RFC 3339 time" } : { ok: true, value: { kind: "time", value: v }, mac: Buffer.from(v) };
    }
    case "bytes":
      return { ok: true, value: { kind: "bytes", value: new Uint8Array(raw) }, mac: raw };
    case "comment":
      return { ok: true, value: { kind: "comment", value: text, inline: false }, mac: raw };
    default:
      return { ok: false, reason: "type", type };
  }
}

/** The bytes sops' ToBytes produces for a plaintext value (what the MAC hashes). */
export function macBytes(v: Scalar | Comment): Uint8Array | undefined {
  switch (v.kind) {
    case "str":
    case "comment":
      return Buffer.from(v.value, "utf8");
    case "int":
      return Buffer.from(v.value.toString());
    case "float":
      return Buffer.from(goFormatFloat(v.value));
    case "bool":
      return Buffer.from(v.value ? "True" : "False");
    case "time":
      return Buffer.from(v.value);
    case "bytes":
      return v.value;
    case "null":
      return undefined;
  }
}

/** Type tag and plaintext bytes sops' aes.Cipher.Encrypt would use. bytes are encrypted as str (walkValue turns []byte into string). */
function plainForEncrypt(v: Scalar | Comment): { type: string; bytes: Uint8Array } {
  if (v.kind === "bytes") return { type: "str", bytes: v.value };
  if (v.kind === "null") throw new Error("null values are never encrypted");
  return { type: v.kind, bytes: macBytes(v)! };
}

/** Encrypt a value; the empty string (and empty comment) stays "" as in sops. */
export function sealValue(v: Scalar | Comment, key: Uint8Array, aad: string, iv: Uint8Array = randomBytes(32)): string {
  const { type, bytes } = plainForEncrypt(v);
  if (bytes.length === 0 && (v.kind === "str" || v.kind === "comment" || v.kind === "bytes")) return "";
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(Buffer.from(aad, "utf8"));
  const data = Buffer.concat([c.update(bytes), c.final()]);
  const tag = c.getAuthTag();
  return `ENC[AES256_GCM,data:${data.toString("base64")},iv:${Buffer.from(iv).toString("base64")},tag:${tag.toString("base64")},type:${type}]`;
}
