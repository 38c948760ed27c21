/**
 * The fleet file (`fleet.yaml` at the root of the fleet repo): hosts, waves,
 * health checks, secrets, hooks, the agent's schedule and repository policy.
 *
 * This schema describes the file as written (the "input" shape). Defaults are
 * filled in by normalisation (common/src/fleet/normalize.ts) and cross-field
 * rules (hosts in waves exist, …) are checked after that; see `flotilla validate`.
 */
import { z } from "zod";
import { CommitSha, durationAtMost, HostName, Selector, SshEd25519PublicKey, Tag } from "./common.js";
import { MaintenanceWindow, RebootPolicy, WindowGroup } from "./fleet-windows.js";
import { BodyMatch, GitBranch, PosixName, SecretName, SecretPath, SignerPrincipal, SystemdUnitName } from "./fleet-names.js";

export const FLEET_FILE_VERSION = 1;

// ---------------------------------------------------------------- hooks

export const HookCommand = z
  .strictObject({
    command: z.array(z.string()).min(1).describe('argv, run without a shell (e.g. ["nix", "run", ".#dump-db"]). Runs in the checked-out revision.'),
    timeout: durationAtMost("1d").optional().describe('Default "10m", at most "1d".'),
    user: PosixName.optional().describe("Run as this user (legacy hosts default to the deploy user)."),
  })
  .describe("A command run around a deploy.");
export type HookCommand = z.infer<typeof HookCommand>;

export const Hooks = z.strictObject({
  preDeploy: HookCommand.optional().describe("Runs after the build, before activation; a failure aborts the deploy and changes nothing."),
  postDeploy: HookCommand.optional().describe("Runs after the new generation verified healthy; a failure is reported but does not roll back."),
});
export type Hooks = z.infer<typeof Hooks>;

// ---------------------------------------------------------------- health checks

const CheckTiming = {
  name: z.string().regex(/^[A-Za-z0-9_.:-]+$/).optional().describe("Name shown in reports; defaults to the check type and target."),
  timeout: durationAtMost("10m").optional().describe('Per attempt. Default "5s", at most "10m".'),
  interval: durationAtMost("1h").optional().describe('Between attempts. Default "2s", at most "1h".'),
  successes: z.number().int().min(1).max(100).optional().describe("Consecutive successes required. Default 1."),
  deadline: durationAtMost("1d").optional().describe('Give up (unhealthy) after this long. Default "2m", at most "1d".'),
};

export const HttpCheck = z.strictObject({
  type: z.literal("http"),
  url: z.url({ protocol: /^https?$/ }).describe("http:// or https:// URL."),
  expectStatus: z.number().int().min(100).max(599).optional().describe("Default 200."),
  bodyMatch: BodyMatch.optional(),
  ...CheckTiming,
});
export const TcpCheck = z.strictObject({
  type: z.literal("tcp"),
  host: z.string().min(1).optional().describe('Default "127.0.0.1".'),
  port: z.number().int().min(1).max(65535),
  ...CheckTiming,
});
export const SystemdCheck = z.strictObject({
  type: z.literal("systemd"),
  unit: SystemdUnitName.describe('Unit name, e.g. "nginx.service".'),
  user: z.boolean().optional().describe("A systemd --user unit of the deploy user (legacy hosts). Default false."),
  ...CheckTiming,
});
export const CommandCheck = z.strictObject({
  type: z.literal("command"),
  command: z.array(z.string()).min(1).describe("argv; healthy when it exits 0."),
  ...CheckTiming,
});
export const HealthCheck = z
  .discriminatedUnion("type", [HttpCheck, TcpCheck, SystemdCheck, CommandCheck])
  .describe("A health check: http, tcp, systemd or command.");
export type HealthCheck = z.infer<typeof HealthCheck>;
export const HEALTH_CHECK_TYPES = ["http", "tcp", "systemd", "command"] as const;

export const CheckGroup = z
  .strictObject({
    on: z.array(Selector).min(1).describe("Hosts these checks apply to: names, globs or tag:<tag>."),
    checks: z.array(HealthCheck).min(1),
  })
  .describe("Health checks shared by a set of hosts.");

// ---------------------------------------------------------------- hosts

const HostCommon = {
  name: HostName,
  hostKey: SshEd25519PublicKey.describe("The machine's SSH host public key; verifies its reports and derives its age recipient."),
  tags: z.array(Tag).optional(),
  pin: CommitSha.optional().describe("Keep this host on this exact revision whatever the branch does."),
  checks: z.array(HealthCheck).optional().describe("Checks for this host only (added to matching check groups)."),
  hooks: Hooks.optional().describe("Overrides the fleet-wide hooks for this host."),
  description: z.string().optional(),
};

export const NixosHost = z.strictObject({
  ...HostCommon,
  kind: z.literal("nixos"),
  attribute: z.string().min(1).optional().describe('Flake attribute of the system. Default "nixosConfigurations.<name>".'),
  operation: z.enum(["switch", "boot", "test"]).optional().describe('switch-to-configuration operation. Default "switch".'),
});

export const LegacyHost = z.strictObject({
  ...HostCommon,
  kind: z.literal("legacy"),
  user: PosixName.describe("Deploy user that runs the flake app (must be in nix trusted-users)."),
  app: z.string().min(1).optional().describe('Flake app that deploys. Default "build-legacy".'),
  projectDir: z.string().min(1).optional().describe('Project directory on the host: the app runs here, and envFiles are looked up here. Default "/home/<user>/fleet".'),
  envFiles: z
    .array(z.string().min(1))
    .optional()
    .describe('Env files in projectDir, first existing wins. Default [".env.production", ".env.local"].'),
});

export const Host = z.discriminatedUnion("kind", [NixosHost, LegacyHost]).describe("A machine of the fleet.");
export type Host = z.infer<typeof Host>;
export type NixosHost = z.infer<typeof NixosHost>;
export type LegacyHost = z.infer<typeof LegacyHost>;

// ---------------------------------------------------------------- waves

export const Wave = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: "expected a wave name: letters, digits, '_', '.', '-'" }),
    members: z.array(Selector).min(1).describe("Host names, globs or tag:<tag>. A host belongs to at most one wave."),
    soak: durationAtMost("30d").optional().describe('How long every member must stay healthy on the revision before the next wave opens. Default "0", at most "30d".'),
    maxUnavailable: z
      .union([z.number().int().min(0), z.string().regex(/^(100|[1-9]?[0-9])%$/)])
      .optional()
      .describe('Members allowed to be unhealthy or unreachable while the next wave still opens: a count or "N%". Default 0.'),
    acceptPendingReboot: z
      .boolean()
      .optional()
      .describe(
        "Count a member whose `operation: boot` deploy is staged for the next boot but not verified yet (the agent reports `done` with `pendingReboot`) as healthy, so the next wave can open before the member reboots. Default false: such a member counts only once it has booted the generation and its checks passed there.",
      ),
    approval: z
      .enum(["auto", "manual"])
      .optional()
      .describe(
        'manual: the wave opens for a revision only once an operator approved it (`flotilla rollout approve REV WAVE --reason …`) and the previous wave is promoted; its members then ask the controller even when first. Needs a controller. Default "auto".',
      ),
    window: MaintenanceWindow.optional().describe("Members start deploys (and reboots) only inside this window, unless `windows` gives them their own. Default: always open."),
  })
  .describe("A rollout stage. Waves open in order; hosts in no wave form an implicit last wave named \"rest\".");
export type Wave = z.infer<typeof Wave>;

// ---------------------------------------------------------------- secrets

export const SecretEntry = z
  .strictObject({
    name: SecretName,
    sopsFile: z.string().min(1).describe("Path of the SOPS-encrypted file in the fleet repo."),
    key: z.string().min(1).optional().describe('Key path inside the file ("db/password"); absent = the whole file.'),
    format: z.enum(["yaml", "json", "dotenv", "binary"]).optional().describe("Default: from the file extension."),
    hosts: z.array(Selector).min(1).describe("Hosts that receive it."),
    path: SecretPath.optional().describe("Install path (a symlink into the current generation): absolute and normalised (no '.', '..' or empty components). Default <secretsRoot>/current/<name>."),
    owner: PosixName.optional().describe('User name. Default "root".'),
    group: PosixName.optional().describe('Group name. Default "root".'),
    mode: z.string().regex(/^0?[0-7]{3}$/, { message: 'expected an octal mode such as "0400"' }).optional().describe('Default "0400".'),
    restartUnits: z.array(SystemdUnitName).optional().describe("Units restarted when this secret changes."),
    restartUnitsScope: z
      .enum(["system", "user"])
      .optional()
      .describe('The systemd manager restartUnits are restarted in: "user" (the legacy host\'s deploy user, systemctl --user) or "system". Default: "user" on legacy hosts, "system" on NixOS hosts.'),
  })
  .describe("A secret installed on hosts.");
export type SecretEntry = z.infer<typeof SecretEntry>;

// ---------------------------------------------------------------- agent + policy

export const AgentSettings = z
  .strictObject({
    pollInterval: durationAtMost("1d").optional().describe('Default "60s", at most "1d".'),
    jitter: durationAtMost("1d").optional().describe('Random extra delay per poll, up to this. Default "10s", at most "1d".'),
    keepGenerations: z.number().int().min(1).max(1000).optional().describe("System/secrets generations kept. Default 5."),
    selfUpdate: z
      .strictObject({
        source: z.string().min(1).describe('Flake reference of the agent, pinned to a revision (e.g. "github:org/flotilla/<40-hex>" or "git+https://…?rev=<40-hex>"). Its npm dependencies come from the registry on the registry= line of that revision\'s .npmrc (docs/packaging.md, "The npm registry").'),
        attribute: z.string().min(1).optional().describe('Package attribute. Default "packages.<system>.flotilla".'),
        schedule: z.string().min(1).describe('cron expression (5 or 6 fields), e.g. "0 4 * * *".'),
        randomDelay: durationAtMost("1d").optional().describe('Random delay added to each run. Default "15m", at most "1d".'),
        healthDeadline: durationAtMost("1h").optional().describe('The new agent must report healthy within this. Default "2m", at most "1h".'),
      })
      .optional(),
  })
  .describe("How agents poll and update themselves.");

export const AllowedSigner = z.strictObject({
  principal: SignerPrincipal,
  key: z.string().regex(/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|sk-ssh-ed25519@openssh.com) [A-Za-z0-9+/]+={0,2}( .*)?$/, {
    message: 'expected an OpenSSH public key line such as "ssh-ed25519 AAAA…"',
  }),
});

export const Policy = z
  .strictObject({
    branch: GitBranch.optional().describe('Branch that is the rollout. Default "main". Agents and the controller follow the branch their own configuration names and refuse a fleet.yaml whose policy.branch names another.'),
    controller: z.url({ protocol: /^https?$/ }).optional().describe("Controller base URL agents report to and ask for wave gates."),
    allowRewrites: z.boolean().optional().describe("Accept non-fast-forward moves of the branch. Default false."),
    requireSignedCommits: z.boolean().optional().describe("Deploy only commits with a valid SSH signature by an allowed signer. Default false (true when allowedSigners is set)."),
    allowedSigners: z.array(AllowedSigner).optional(),
    unreachableAfter: durationAtMost("7d").optional().describe('A host with no report for this long counts as unavailable. Default "5m", at most "7d".'),
  })
  .describe("Repository and rollout policy.");

// ---------------------------------------------------------------- delivery (build once, substitute everywhere)

export const DELIVERY_MODES = ["build", "substitute", "substitute-or-build"] as const;
export const DeliveryMode = z
  .enum(DELIVERY_MODES)
  .describe(
    'build: the host evaluates and builds its own system (default). substitute: it only realises the out path named by the signed release manifest from the caches, never evaluating or building. substitute-or-build: substitute, but build itself when no manifest appears within `wait` or no cache has the path.',
  );
export type DeliveryMode = z.infer<typeof DeliveryMode>;

export const DeliveryOverride = z
  .strictObject({
    on: z.array(Selector).min(1).describe("Hosts this mode applies to: names, globs or tag:<tag>. An exact host name beats a glob or tag."),
    mode: DeliveryMode,
  })
  .describe("The delivery mode of a set of hosts.");

export const BinaryCache = z
  .strictObject({
    url: z
      .string()
      .regex(/^(file|https?|s3|ssh|ssh-ng):\/\/\S+$/, { message: "expected a Nix store URL such as http://cache:8080, https://…, file:///srv/cache or s3://bucket" })
      .describe("A Nix binary cache URL, as `nix copy --from` takes it."),
    publicKey: z
      .string()
      .regex(/^[A-Za-z0-9._+-]+:[A-Za-z0-9+/]{43}=$/, { message: 'expected a Nix public key such as "cache-1:base64…=" (nix key convert-secret-to-public)' })
      .describe("The Nix signing key (public half) whose narinfo signatures this cache's paths must carry."),
  })
  .describe("A binary cache agents substitute from.");

export const Builder = z
  .strictObject({
    name: z.string().min(1).max(200).describe("Who builds (a CI job, a build machine)."),
    key: SshEd25519PublicKey.describe("The ed25519 key that signs release manifests (`flotilla build --builder-key`)."),
  })
  .describe("A builder allowed to sign release manifests.");

export const Delivery = z
  .strictObject({
    mode: DeliveryMode.optional().describe('Default for every host. Default "build".'),
    overrides: z.array(DeliveryOverride).optional().describe("Per-tag or per-host modes."),
    wait: durationAtMost("1d").optional().describe('How long a substituting host waits for its revision\'s release manifest before failing (substitute) or building itself (substitute-or-build). Default "10m", at most "1d".'),
    caches: z.array(BinaryCache).optional().describe("Binary caches, tried in order. Taken from the last trusted fleet file, like policy.allowedSigners."),
    builders: z.array(Builder).optional().describe("Keys allowed to sign release manifests. Taken from the last trusted fleet file, like policy.allowedSigners."),
  })
  .describe("How hosts get their systems: build them, or substitute what a builder built once (docs/delivery.md).");
export type Delivery = z.infer<typeof Delivery>;

// ---------------------------------------------------------------- the file

export const FleetFile = z
  .strictObject({
    version: z.literal(FLEET_FILE_VERSION).describe("Format version; 1."),
    policy: Policy.optional(),
    agent: AgentSettings.optional(),
    hooks: Hooks.optional().describe("Fleet-wide hooks (a host's own hooks replace them)."),
    hosts: z.array(Host).min(1),
    waves: z.array(Wave).optional(),
    checks: z.array(CheckGroup).optional(),
    secrets: z.array(SecretEntry).optional(),
    delivery: Delivery.optional(),
    windows: z.array(WindowGroup).optional().describe("Maintenance windows per tag or host (they beat the wave's window)."),
    reboot: RebootPolicy.optional(),
  })
  .describe("Flotilla fleet file (fleet.yaml).");
export type FleetFile = z.infer<typeof FleetFile>;
