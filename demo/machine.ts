/**
 * Ground truth on the machines, read from the machines rather than from the
 * controller: the NixOS profile's generation, what the stand-in system or
 * legacy app last activated, the installed secret (presence, mode and sha256
 * only; never the value) and the app service's restarts.
 *
 * `Machines` is the port the acts read through; `localMachines` reads the
 * process-based demo's per-host directories on this machine, and
 * demo/hosts.ts implements it on booted hosts (nsenter into each).
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

/** What the acts read on the machines themselves (not from the controller). */
export interface Machines {
  view(h: HostName): Promise<MachineView>;
  /** The installed secret app-token, or null when it is missing. */
  secret(h: HostName): Promise<SecretView | null>;
  /** Where the secret should be, for messages. */
  secretPath(h: HostName): string;
  /**
   * How many times the app's service was (re)started so far: the stand-in
   * systemctl's restart calls (process demo), or every start of the real
   * webapp.service, by activations and by secret changes (hosts).
   */
  restarts(h: HostName): Promise<number>;
  /**
   * sha256 of the secret file the running app service read at its last
   * start, or null where there is no real service to ask (the process demo's
   * stand-in systemctl only logs restarts).
   */
  serviceSecretSha(h: HostName): Promise<string | null>;
  /** The SERVICE_* variable names (not values) the legacy app saw on its last run. */
  legacyEnvNames(h: HostName): Promise<string[]>;
}

/** The process-based demo: every "machine" is a set of directories under the demo's temp dir. */
export function localMachines(w: World): Machines {
  return {
    view: async (h) => machine(w, h),
    secret: async (h) => installedSecret(w, h),
    secretPath: (h) => join(w.hosts[h].secretsRoot, "current", SECRET_NAME),
    restarts: async (h) => restarts(w, h).length,
    serviceSecretSha: async () => null,
    legacyEnvNames: async (h) => legacyEnvNames(w, h),
  };
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
  return envNames(read(join(w.fixtureState, h, "env")) ?? "");
}

/** The variable names of NAME=value lines, first occurrence order. */
export function envNames(text: string): string[] {
  return Object.keys(
    Object.fromEntries(
      text
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
