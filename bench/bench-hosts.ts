// Simulated hosts for the benchmarks: an ed25519 key pair each (node crypto),
// its OpenSSH public key line for fleet.yaml, and signing of protocol
// messages exactly as agents sign them (SIGNATURE_DOMAIN + payload).
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { SIGNATURE_DOMAIN, type SignedEnvelope } from "../schemas/src/api.js";

export interface BenchHost {
  name: string;
  key: KeyObject;
  publicLine: string;
}

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

export function makeHost(name: string): BenchHost {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const raw = (publicKey.export({ format: "der", type: "spki" }) as Buffer).subarray(-32);
  const blob = Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(raw)]);
  return { name, key: privateKey, publicLine: `ssh-ed25519 ${blob.toString("base64")}` };
}

export function signAs(h: BenchHost, message: unknown): SignedEnvelope {
  const payload = JSON.stringify(message);
  return { v: 1, host: h.name, alg: "ssh-ed25519", payload, sig: sign(null, Buffer.from(SIGNATURE_DOMAIN + payload), h.key).toString("base64") };
}
