/**
 * The agent's own config file (/etc/flotilla/agent.yaml or JSON), written by
 * the NixOS module or the legacy installer. Everything about *what* to deploy
 * lives in the fleet repo; this file says only where and how this machine runs.
 */
import { z } from "zod";
import { durationAtMost, HostName } from "./common.js";

export const AgentConfig = z
  .strictObject({
    host: HostName.describe("This machine's name in fleet.yaml."),
    remotes: z
      .array(z.string().regex(/^(file|https?|ssh):\/\/.+|^[^\s:]+@[^\s:]+:.+/, { message: "expected a file://, http(s)://, ssh:// or scp-style git remote" }))
      .min(1)
      .describe("Fleet repo remotes, tried in order; the first that answers wins."),
    branch: z.string().min(1).optional().describe('Default "main".'),
    stateDir: z.string().min(1).optional().describe('Default "/var/lib/flotilla".'),
    hostKeyPath: z.string().min(1).optional().describe('Default "/etc/ssh/ssh_host_ed25519_key".'),
    controller: z.url({ protocol: /^https?$/ }).optional().describe("Overrides policy.controller from the fleet file."),
    commands: z
      .strictObject({
        git: z.string().min(1).optional(),
        nix: z.string().min(1).optional(),
        nixEnv: z.string().min(1).optional().describe('Default "nix-env".'),
        nixStore: z.string().min(1).optional().describe('Builds a legacy app\'s derivations. Default: nix-store beside `nix` when that is a path, else "nix-store".'),
        nixosRebuild: z.string().min(1).optional(),
        systemctl: z.string().min(1).optional(),
        reboot: z.array(z.string().min(1)).min(1).optional().describe('argv that reboots the machine when the fleet\'s reboot policy is auto (docs/operations.md, "Reboots"). Default ["systemctl", "reboot"].'),
        runAs: z.array(z.string()).optional().describe('Prefix to run a command as the deploy user; "{user}" is replaced. Default ["runuser", "-u", "{user}", "--"].'),
      })
      .optional()
      .describe("Paths of external commands (defaults: looked up on PATH)."),
    profile: z.string().min(1).optional().describe('NixOS system profile. Default "/nix/var/nix/profiles/system".'),
    activation: z
      .enum(["nixos-rebuild", "direct"])
      .optional()
      .describe('"nixos-rebuild" (default) runs `nixos-rebuild <op> --flake <checkout>?rev=<sha>#<host>`; "direct" builds the toplevel, sets the profile and runs switch-to-configuration.'),
    secretsRoot: z.string().min(1).optional().describe('Default "/run/flotilla/secrets.d".'),
    bootedSystem: z.string().min(1).optional().describe('The system the host booted (NixOS): compared with a new generation to tell whether it needs a reboot, and with an `operation: boot` generation to tell whether it runs yet. Default "/run/booted-system".'),
    currentSystem: z.string().min(1).optional().describe('The system running now (NixOS): what an `operation: test` deploy rolls back to. Default "/run/current-system".'),
    legacyProfileDir: z.string().min(1).optional().describe('Where legacy deploy records live. Default "<stateDir>/legacy".'),
    pollInterval: durationAtMost("1d").optional().describe('Overrides agent.pollInterval from the fleet file. At most "1d".'),
    jitter: durationAtMost("1d").optional().describe('At most "1d".'),
    timeouts: z
      .strictObject({
        git: durationAtMost("1d").optional().describe('Default "5m", at most "1d".'),
        build: durationAtMost("7d").optional().describe('Default "30m", at most "7d".'),
        activate: durationAtMost("1d").optional().describe('Default "10m", at most "1d".'),
        connectivity: durationAtMost("1h").optional().describe('Post-activation reachability deadline. Default "60s", at most "1h".'),
      })
      .optional(),
    queue: z
      .strictObject({
        maxEvents: z.number().int().min(10).optional().describe("Transition events kept while the controller is unreachable. Default 10000."),
        maxHeartbeats: z.number().int().min(0).optional().describe("Heartbeats kept; older ones are dropped first. Default 100."),
      })
      .optional(),
    metrics: z
      .strictObject({ listen: z.string().regex(/^[^\s:]+:\d+$/, { message: 'expected "host:port"' }) })
      .optional()
      .describe("Prometheus text endpoint."),
    heartbeatInterval: durationAtMost("1h").optional().describe('Default "60s", at most "1h".'),
    logLevel: z.enum(["debug", "info", "warn", "error"]).optional(),
    logFormat: z
      .enum(["text", "json"])
      .optional()
      .describe('Log line format: "text" (`level component: msg key=value`) or "json" (one object per line: time, level, component, msg, fields). Default: FLOTILLA_LOG_FORMAT, else "text". Under systemd (JOURNAL_STREAM set) lines carry a `<N>` syslog priority prefix either way.'),
  })
  .describe("flotilla-agent configuration.");
export type AgentConfig = z.infer<typeof AgentConfig>;
