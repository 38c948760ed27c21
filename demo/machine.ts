/**
 * Ground truth on the (simulated) machines, read from disk rather than from
 * the controller: the NixOS profile's generation, what the stand-in system
 * or legacy app last activated, the installed secret (presence, mode and
 * sha256 only; never the value) and the stand-in systemctl's restart log.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { SECRET_NAME, type HostName, type World } from "./world.js";

export interface MachineView {
  /** realpath of the NixOS system profile (null for legacy hosts or before the first activation). */
  profile: string | null;
  /** The revision the stand-in system / legacy app last activated. */
  revision: string | null;
  health: string | null;
}

function read(path: string): string | null {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return null;
  }
}

export function machine(w: World, h: HostName): MachineView {
  const p = w.hosts[h].profile;
  return {
    profile: existsSync(p) ? realpathSync(p) : null,
    revision: read(join(w.fixtureState, h, "current-revision")),
    health: read(join(w.fixtureState, h, "health")),
  };
}

export interface SecretView {
  path: string;
  mode: string;
  sha256: string;
}

export function installedSecret(w: World, h: HostName): SecretView | null {
  const path = join(w.hosts[h].secretsRoot, "current", SECRET_NAME);
  if (!existsSync(path)) return null;
  const mode = (statSync(path).mode & 0o777).toString(8).padStart(4, "0");
  return { path, mode, sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
}

/** Restart lines of the stand-in systemctl for `host`. */
export function restarts(w: World, h: HostName): string[] {
  return (read(w.systemctlLog) ?? "").split("\n").filter((l) => l.split(" ")[1] === h && / restart /.test(l));
}

/** The SERVICE_* variable names (not values) the legacy app saw on its last run. */
export function legacyEnvNames(w: World, h: HostName): string[] {
  return Object.keys(
    Object.fromEntries(
      (read(join(w.fixtureState, h, "env")) ?? "")
        .split("\n")
        .map((l) => l.split("=")[0] ?? "")
        .filter(Boolean)
        .map((k) => [k, 1]),
    ),
  );
}

/** A store path without its hash: /nix/store/abc…-nixos-system-web-1-25.05.flotilla.1a2b3c4 → …-nixos-system-web-1-…. */
export function shortPath(p: string | null | undefined): string {
  return p ? p.replace(/^\/nix\/store\/([0-9a-z]{7})[0-9a-z]{25}-/, "/nix/store/$1…-") : "none";
}
