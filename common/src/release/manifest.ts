/**
 * Signing and checking release manifests (schemas/src/release.ts). Pure but
 * for the key objects: the builder signs RELEASE_SIGNATURE_DOMAIN + payload
 * with its ed25519 key; a host accepts a manifest only when
 *
 *   1. it is a SignedRelease whose key is one of `builders` (the fleet's
 *      delivery.builders, from the last trusted fleet file) and whose
 *      signature verifies over the exact payload text;
 *   2. the payload is a ReleaseManifest whose builder key is the signer;
 *   3. it is for exactly the target revision and names this host.
 *
 * 1–2 failing is "untrusted" (forged, tampered, unknown key), 3 "mismatch"
 * (a stale manifest for another revision, or a host it does not cover).
 */
import { sign, verify, type KeyObject } from "node:crypto";
import { RELEASE_SIGNATURE_DOMAIN } from "../../../schemas/src/release-constants.js";
import type { ReleaseHost, ReleaseManifest, SignedRelease } from "../../../schemas/src/release.js";
import { accepts, schemaHint } from "../../../schemas/src/agent-check.js";
import { publicKeyObject } from "../signing.js";

export interface ReleaseSigner {
  privateKey: KeyObject;
  publicKeyLine: string;
}

export function signRelease(manifest: ReleaseManifest, signer: ReleaseSigner): SignedRelease {
  const payload = JSON.stringify(manifest);
  const sig = sign(null, Buffer.from(RELEASE_SIGNATURE_DOMAIN + payload, "utf8"), signer.privateKey).toString("base64");
  return { v: 1, alg: "ssh-ed25519", key: signer.publicKeyLine, payload, sig };
}

/** "ssh-ed25519 AAAA…" without a comment, for comparing keys. */
export function keyId(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(" ");
}

export type ReleaseCheck =
  | { ok: true; manifest: ReleaseManifest; entry: ReleaseHost; builder: string }
  | { ok: false; problem: "untrusted" | "mismatch"; message: string };

export function checkRelease(text: string, o: { builders: { name: string; key: string }[]; rev: string; host: string }): ReleaseCheck {
  const untrusted = (message: string): ReleaseCheck => ({ ok: false, problem: "untrusted", message });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return untrusted("the release manifest is not JSON");
  }
  // Checked against the generated JSON Schema (schemas/src/agent-check.ts), so the agent need not load zod.
  if (!accepts("signed-release", json)) return untrusted(`the release manifest is not a signed release (${schemaHint("signed-release", json)})`);
  const env = { data: json as SignedRelease };
  const builder = o.builders.find((b) => keyId(b.key) === keyId(env.data.key));
  if (!builder) return untrusted(`the release manifest is signed by ${keyId(env.data.key).slice(0, 40)}…, which is not one of delivery.builders (${o.builders.map((b) => b.name).join(", ") || "none"})`);
  let good = false;
  try {
    good = verify(null, Buffer.from(RELEASE_SIGNATURE_DOMAIN + env.data.payload, "utf8"), publicKeyObject(builder.key), Buffer.from(env.data.sig, "base64"));
  } catch {
    good = false;
  }
  if (!good) return untrusted(`the release manifest's signature does not verify with builder "${builder.name}"'s key (tampered or forged)`);
  let payload: unknown;
  try {
    payload = JSON.parse(env.data.payload);
  } catch {
    return untrusted("the signed payload is not JSON");
  }
  if (!accepts("release", payload)) return untrusted(`the signed payload is not a release manifest (${schemaHint("release", payload)})`);
  const m = { data: payload as ReleaseManifest };
  if (keyId(m.data.builder.key) !== keyId(env.data.key)) return untrusted("the manifest names another builder key than the one that signed it");
  if (m.data.rev !== o.rev) return { ok: false, problem: "mismatch", message: `the release manifest is for revision ${m.data.rev.slice(0, 12)}, not ${o.rev.slice(0, 12)} (stale or misplaced)` };
  const entry = m.data.hosts[o.host];
  if (!entry) return { ok: false, problem: "mismatch", message: `the release manifest of ${o.rev.slice(0, 12)} does not name host "${o.host}"` };
  return { ok: true, manifest: m.data, entry, builder: builder.name };
}
