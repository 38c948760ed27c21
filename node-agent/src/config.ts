/**
 * The agent's config file (/etc/flotilla/agent.yaml, YAML or JSON), in three
 * stages: parse (schema, every issue with its dotted path), normalize
 * (defaults, durations in ms), rules (cross-field checks). All problems come
 * back together.
 */
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import type { AgentConfig } from "../../schemas/src/agent-config.js";
import { accepts } from "../../schemas/src/agent-check.js";
import { parseDuration } from "../../schemas/src/duration.js";

/** nix-store next to `commands.nix` when that is a path, else nix-store on PATH. */
export function nixStoreBeside(nix: string): string {
  return nix.includes("/") ? join(dirname(nix), "nix-store") : "nix-store";
}

export const DEFAULT_CONFIG_PATH = "/etc/flotilla/agent.yaml";

/**
 * The config file when no --config is given: /etc/flotilla/agent.yaml (the
 * NixOS module's, and any system-wide agent's). A user other than root that
 * has no such file gets its own, `$XDG_CONFIG_HOME/flotilla/agent.yaml`
 * (default ~/.config/flotilla/agent.yaml), where install-legacy-agent puts
 * it, so `flotilla-agent status` works for the deploy user as it is.
 */
export function defaultConfigPath(env: Record<string, string | undefined>, uid: number | undefined, exists: (p: string) => boolean): string {
  if (uid === 0 || exists(DEFAULT_CONFIG_PATH)) return DEFAULT_CONFIG_PATH;
  const base = env.XDG_CONFIG_HOME || (env.HOME ? `${env.HOME}/.config` : null);
  const user = base ? `${base}/flotilla/agent.yaml` : null;
  return user && exists(user) ? user : DEFAULT_CONFIG_PATH;
}

export interface ResolvedConfig {
  host: string;
  remotes: string[];
  branch: string;
  stateDir: string;
  hostKeyPath: string;
  controller: string | null;
  commands: { git: string; nix: string; nixEnv: string; nixStore: string; nixosRebuild: string; systemctl: string; runAs: string[]; reboot: string[] };
  profile: string;
  activation: "nixos-rebuild" | "direct";
  secretsRoot: string;
  bootedSystem: string;
  currentSystem: string;
  /** Legacy hosts: where each completed app run records "<rev> <generation>" (default <stateDir>/legacy). */
  legacyProfileDir: string;
  /** null: take agent.pollInterval / agent.jitter from the fleet file. */
  pollIntervalMs: number | null;
  jitterMs: number | null;
  timeouts: { gitMs: number; buildMs: number; activateMs: number; connectivityMs: number };
  queue: { maxEvents: number; maxHeartbeats: number };
  metricsListen: string | null;
  heartbeatIntervalMs: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Unset: FLOTILLA_LOG_FORMAT, else "text". */
  logFormat?: "text" | "json";
}

export type ConfigResult = { ok: true; config: ResolvedConfig; warnings: string[] } | { ok: false; errors: string[] };

/** `source`: the file's text and name, so schema errors read `file:line:col  path  message`. */
export async function resolveConfig(data: unknown, source?: { text: string; file: string }): Promise<ConfigResult> {
  let c: AgentConfig;
  if (accepts("agent-config", data)) c = data as AgentConfig;
  else {
    // zod is loaded only to explain a rejection (or for what only it accepts).
    const [{ AgentConfig }, { locateConfigIssues }] = await Promise.all([import("../../schemas/src/agent-config.js"), import("../../common/src/fleet/config-issues.js")]);
    const parsed = AgentConfig.safeParse(data);
    if (!parsed.success) {
      if (source) return { ok: false, errors: locateConfigIssues({ ...source, schema: AgentConfig, data, issues: parsed.error.issues }) };
      return { ok: false, errors: parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`) };
    }
    c = parsed.data;
  }
  const ms = (d: string | undefined, fallback: string) => parseDuration(d ?? fallback);
  const config: ResolvedConfig = {
    host: c.host,
    remotes: c.remotes,
    branch: c.branch ?? "main",
    stateDir: c.stateDir ?? "/var/lib/flotilla",
    hostKeyPath: c.hostKeyPath ?? "/etc/ssh/ssh_host_ed25519_key",
    controller: c.controller ? c.controller.replace(/\/+$/, "") : null,
    commands: {
      git: c.commands?.git ?? "git",
      nix: c.commands?.nix ?? "nix",
      nixEnv: c.commands?.nixEnv ?? "nix-env",
      nixStore: c.commands?.nixStore ?? nixStoreBeside(c.commands?.nix ?? "nix"),
      nixosRebuild: c.commands?.nixosRebuild ?? "nixos-rebuild",
      systemctl: c.commands?.systemctl ?? "systemctl",
      runAs: c.commands?.runAs ?? ["runuser", "-u", "{user}", "--"],
      reboot: c.commands?.reboot ?? ["systemctl", "reboot"],
    },
    profile: c.profile ?? "/nix/var/nix/profiles/system",
    activation: c.activation ?? "nixos-rebuild",
    secretsRoot: c.secretsRoot ?? "/run/flotilla/secrets.d",
    bootedSystem: c.bootedSystem ?? "/run/booted-system",
    currentSystem: c.currentSystem ?? "/run/current-system",
    legacyProfileDir: c.legacyProfileDir ?? `${(c.stateDir ?? "/var/lib/flotilla").replace(/\/+$/, "")}/legacy`,
    pollIntervalMs: c.pollInterval ? parseDuration(c.pollInterval) : null,
    jitterMs: c.jitter ? parseDuration(c.jitter) : null,
    timeouts: {
      gitMs: ms(c.timeouts?.git, "5m"),
      buildMs: ms(c.timeouts?.build, "30m"),
      activateMs: ms(c.timeouts?.activate, "10m"),
      connectivityMs: ms(c.timeouts?.connectivity, "60s"),
    },
    queue: { maxEvents: c.queue?.maxEvents ?? 10_000, maxHeartbeats: c.queue?.maxHeartbeats ?? 100 },
    metricsListen: c.metrics?.listen ?? null,
    heartbeatIntervalMs: ms(c.heartbeatInterval, "60s"),
    logLevel: c.logLevel ?? "info",
    logFormat: c.logFormat,
  };
  // Rules.
  const errors: string[] = [];
  const warnings: string[] = [];
  if (!config.stateDir.startsWith("/")) errors.push("stateDir: expected an absolute path");
  if (!config.profile.startsWith("/")) errors.push("profile: expected an absolute path");
  if (config.timeouts.gitMs === 0) errors.push("timeouts.git: must be greater than 0");
  if (config.timeouts.connectivityMs === 0) errors.push("timeouts.connectivity: must be greater than 0");
  if (config.heartbeatIntervalMs === 0) errors.push("heartbeatInterval: must be greater than 0");
  if (config.remotes.some((r) => /^https?:\/\/[^/]*:[^/@]*@/.test(r))) {
    warnings.push("remotes: a password is embedded in a remote URL; it is redacted from logs, but prefer a credential helper or an ssh key");
  }
  if (errors.length) return { ok: false, errors };
  return { ok: true, config, warnings };
}

export async function loadConfigFile(path: string): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    return { ok: false, errors: [`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`] };
  }
  let data: unknown;
  try {
    data = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    return { ok: false, errors: [`${path}: cannot parse: ${(e as Error).message.split("\n")[0]}`] };
  }
  const r = await resolveConfig(data, { text, file: path });
  return r.ok ? r : { ok: false, errors: r.errors.map((e) => (e.startsWith(`${path}:`) ? e : `${path}: ${e}`)) };
}
