/**
 * Signed envelopes: agents sign every message with the machine's SSH ed25519
 * host key; the controller verifies with `hostKey` from the fleet file.
 * The signature covers SIGNATURE_DOMAIN + payload, so a signature can never be
 * replayed as some other protocol's message.
 */
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import sshpk from "sshpk";
import { SIGNATURE_DOMAIN, WATCH_AUTH_SCHEME } from "../../schemas/src/api-constants.js";
import type { SignedEnvelope } from "../../schemas/src/api.js";
import { decodeSshEd25519PublicKey } from "./fleet/ssh-public-key.js";

const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export class HostKeyError extends Error {
  override name = "HostKeyError";
}

export interface HostSigner {
  host: string;
  publicKeyLine: string;
  sign(payload: string): SignedEnvelope;
}

/** Reads an OpenSSH ed25519 private key file (unencrypted, as host keys are). */
export async function loadHostSigner(host: string, keyPath: string): Promise<HostSigner> {
  let text: Buffer;
  try {
    text = await readFile(keyPath);
  } catch (cause) {
    throw new HostKeyError(`cannot read host key ${keyPath}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`, { cause });
  }
  return signerFromOpenSsh(host, text, keyPath);
}

/** An OpenSSH ed25519 private key as a node KeyObject, with its public key line ("ssh-ed25519 AAAA…"). */
export function ed25519FromOpenSsh(pem: Buffer | string, source = "host key"): { privateKey: KeyObject; publicKeyLine: string } {
  let key: sshpk.PrivateKey;
  try {
    key = sshpk.parsePrivateKey(pem, "auto");
  } catch (cause) {
    throw new HostKeyError(`cannot parse ${source}: expected an OpenSSH ed25519 private key`, { cause });
  }
  if (key.type !== "ed25519") throw new HostKeyError(`${source} is a ${key.type} key; Flotilla needs ssh-ed25519`);
  const seed = (key.part as unknown as Record<string, { data: Buffer }>)["k"]!.data;
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed.subarray(-32)]), format: "der", type: "pkcs8" });
  const publicKeyLine = key.toPublic().toString("ssh").split(" ").slice(0, 2).join(" ");
  return { privateKey, publicKeyLine };
}

export function signerFromOpenSsh(host: string, pem: Buffer | string, source = "host key"): HostSigner {
  const { privateKey, publicKeyLine } = ed25519FromOpenSsh(pem, source);
  return {
    host,
    publicKeyLine,
    sign(payload: string): SignedEnvelope {
      const sig = sign(null, Buffer.from(SIGNATURE_DOMAIN + payload, "utf8"), privateKey).toString("base64");
      return { v: 1, host, alg: "ssh-ed25519", payload, sig };
    },
  };
}

const keyCache = new Map<string, KeyObject>();

export function publicKeyObject(sshEd25519Line: string): KeyObject {
  const cached = keyCache.get(sshEd25519Line);
  if (cached) return cached;
  const raw = decodeSshEd25519PublicKey(sshEd25519Line);
  const obj = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: "der", type: "spki" });
  if (keyCache.size > 100_000) keyCache.clear();
  keyCache.set(sshEd25519Line, obj);
  return obj;
}

/** True when `envelope.sig` is a valid signature of its payload by `hostKey`. */
export function verifyEnvelope(envelope: SignedEnvelope, hostKey: string): boolean {
  try {
    return verify(null, Buffer.from(SIGNATURE_DOMAIN + envelope.payload, "utf8"), publicKeyObject(hostKey), Buffer.from(envelope.sig, "base64"));
  } catch {
    return false;
  }
}

/** The Authorization header value carrying a signed envelope (GET /api/v1/watch). */
export function envelopeAuthorization(envelope: SignedEnvelope): string {
  return `${WATCH_AUTH_SCHEME} ${Buffer.from(JSON.stringify(envelope), "utf8").toString("base64url")}`;
}

/** The envelope in an Authorization header, unvalidated (null when the scheme or encoding is wrong). */
export function envelopeFromAuthorization(header: string | undefined | null): unknown {
  const m = /^(\S+)\s+([A-Za-z0-9_-]+)\s*$/.exec(header ?? "");
  if (!m || m[1]!.toLowerCase() !== WATCH_AUTH_SCHEME.toLowerCase()) return null;
  try {
    return JSON.parse(Buffer.from(m[2]!, "base64url").toString("utf8"));
  } catch {
    return null;
  }
}
