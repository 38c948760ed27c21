/**
 * @module secrets/sops/enc-value
 * The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` envelope of getsops/sops v3:
 * AES-256-GCM per value, a 32-byte IV, the key path (`a:b:c:`) as additional
 * data. Decryption returns the typed value plus the exact bytes the MAC hashes.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { Comment, Scalar } from "./tree.js";
import { goAtoi, goFormatFloat, goParseBool, goParseFloat, goTimeMarshalText } from "./go-format.js";

export interface EncEnvelope {
  data: Uint8Array;
  iv: Uint8Array;
  tag: Uint8Array;
  type: string;
}

const ENVELOPE = /^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]$/s;
const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export class EnvelopeError extends Error {}

function b64(field: string, s: string): Buffer {
  if (!B64.test(s)) throw new EnvelopeError(`${field} is not valid base64`);
  return Buffer.from(s, "base64");
}

export function isEncrypted(s: string): boolean {
  return s.startsWith("ENC[");
}

/** Parse the envelope. Throws EnvelopeError naming the broken field (never echoing the value). */
export function parseEnvelope(s: string): EncEnvelope {
  const m = ENVELOPE.exec(s);
  if (!m) throw new EnvelopeError("expected ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<type>]");
  return { data: b64("data", m[1]!), iv: b64("iv", m[2]!), tag: b64("tag", m[3]!), type: m[4]! };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

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
  const text = raw.toString("utf8");
  switch (type) {
    case "str": {
      try {
        return { ok: true, value: { kind: "str", value: utf8.decode(raw) }, mac: raw };
      } catch {
        // Not UTF-8: keep the exact bytes (Go strings are byte strings; the binary store relies on it).
        return { ok: true, value: { kind: "bytes", value: new Uint8Array(raw) }, mac: raw };
      }
    }
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
