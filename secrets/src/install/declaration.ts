/**
 * @module secrets/install/declaration
 * The agent's input: one entry per secret the fleet file declares for this
 * host, with the sops file's bytes at the target revision. Validation of
 * names, modes and owners happens here, before anything is decrypted.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { SopsFormat } from "../sops/load.js";
import { SecretDeclarationError } from "../errors.js";

export interface SecretDeclaration {
  /** File name inside the generation dir; may contain `/` (sops-nix style `nextcloud/admin`). */
  name: string;
  /** The sops file at the target revision; `path` is for messages (repo-relative). */
  sopsFile: { bytes: Uint8Array; path: string };
  /** Default: from the file extension, as sops decides. */
  format?: SopsFormat | undefined;
  /** Key path inside the file (`a/b`, `a.b`); absent → the whole decrypted file. */
  key?: string | undefined;
  /** Absolute path to expose the secret at (a symlink to <root>/current/<name>). */
  path?: string | undefined;
  owner?: string | number | undefined;
  group?: string | number | undefined;
  /** Octal string ("0400") or number (0o400); default 0400. */
  mode?: string | number | undefined;
  restartUnits?: string[] | undefined;
}

export function validateName(name: string): string {
  const norm = path.posix.normalize(name);
  if (!name || name !== norm || name.startsWith("/") || norm.split("/").some((s) => s === ".." || s === "." || s === "") || name.startsWith(".flotilla"))
    throw new SecretDeclarationError(name, "expected a relative name without '..', empty or leading-dot-flotilla segments");
  return name;
}

export function parseMode(name: string, mode: string | number | undefined): number {
  const m = typeof mode === "number" ? `0${mode.toString(8)}` : (mode ?? "0400");
  if (!/^0?[0-7]{3,4}$/.test(m)) throw new SecretDeclarationError(name, `mode "${m}": expected an octal mode like "0400"`);
  const v = Number.parseInt(m, 8);
  if (v & 0o7000) throw new SecretDeclarationError(name, `mode "${m}": setuid/setgid/sticky bits are not allowed`);
  return v;
}

function lookup(file: string, name: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  return undefined;
}

/** Resolve a user or group (name or number) via /etc/passwd or /etc/group. */
export function resolveId(kind: "owner" | "group", secret: string, v: string | number | undefined): number {
  if (v === undefined || v === "root") return 0;
  if (typeof v === "number" || /^\d+$/.test(v)) return Number(v);
  const id = lookup(kind === "owner" ? "/etc/passwd" : "/etc/group", v);
  if (id === undefined) throw new SecretDeclarationError(secret, `${kind} "${v}" does not exist on this host; expected a user/group name or numeric id`);
  return id;
}
