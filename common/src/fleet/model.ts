/**
 * The normalised fleet: the fleet file with every default filled in, selectors
 * resolved to host names and durations in milliseconds. Agent, controller and
 * CLI all work on this shape; only normalize.ts builds it.
 */
import type { HealthCheck } from "../../../schemas/src/fleet.js";
import type { DeliverySpec } from "./delivery.js";
import type { WindowSpec } from "../window/window.js";
import type { RebootSpec } from "./windows.js";

export type CheckSpec = HealthCheck & {
  name: string;
  timeoutMs: number;
  intervalMs: number;
  successes: number;
  deadlineMs: number;
};

export interface HookSpec {
  command: string[];
  timeoutMs: number;
  user?: string;
}

export interface HostHooks {
  preDeploy?: HookSpec;
  postDeploy?: HookSpec;
}

interface HostBase {
  name: string;
  hostKey: string;
  tags: string[];
  pin?: string;
  checks: CheckSpec[];
  hooks: HostHooks;
  /** Name of the wave the host rolls out in ("rest" for hosts named by no wave). */
  wave: string;
  waveIndex: number;
  description?: string;
  /** Maintenance window (fleet/windows.ts precedence); absent = always open. */
  window?: WindowSpec;
}

export interface NixosHostSpec extends HostBase {
  kind: "nixos";
  attribute: string;
  operation: "switch" | "boot" | "test";
}

export interface LegacyHostSpec extends HostBase {
  kind: "legacy";
  user: string;
  app: string;
  projectDir: string;
  envFiles: string[];
}

export type HostSpec = NixosHostSpec | LegacyHostSpec;

export interface WaveSpec {
  name: string;
  index: number;
  members: string[];
  soakMs: number;
  maxUnavailable: number;
  /** Count members staged for the next boot (operation boot, not verified yet) as healthy. */
  acceptPendingReboot: boolean;
  /** manual: opens for a revision only after an operator approved it (wave approval). */
  approval: "auto" | "manual";
  /** True for the implicit last wave of hosts that no wave names. */
  implicit: boolean;
  /** The wave's own `window` (members may have their own from `windows`). */
  window?: WindowSpec;
}

export interface SecretSpec {
  name: string;
  sopsFile: string;
  key?: string;
  format: "yaml" | "json" | "dotenv" | "binary";
  hosts: string[];
  path?: string;
  owner: string;
  group: string;
  mode: number;
  restartUnits: string[];
  /** Absent: the host's kind decides (legacy → user, nixos → system). */
  restartUnitsScope?: "system" | "user";
}

export interface PolicySpec {
  branch: string;
  controller?: string;
  allowRewrites: boolean;
  requireSignedCommits: boolean;
  allowedSigners: { principal: string; key: string }[];
  unreachableAfterMs: number;
}

export interface AgentSpec {
  pollIntervalMs: number;
  jitterMs: number;
  keepGenerations: number;
  selfUpdate?: {
    source: string;
    attribute?: string;
    schedule: string;
    randomDelayMs: number;
    healthDeadlineMs: number;
  };
}

export interface Fleet {
  version: 1;
  policy: PolicySpec;
  agent: AgentSpec;
  hosts: HostSpec[];
  waves: WaveSpec[];
  secrets: SecretSpec[];
  /** Build once, substitute everywhere: modes, caches, builders (fleet/delivery.ts). */
  delivery?: DeliverySpec;
  /** Reboot coordination (fleet/windows.ts); absent = no host reboots itself. */
  reboot?: RebootSpec;
}

/** A problem found in a fleet file; `path` points inside the file's data. */
export interface FleetIssue {
  severity: "error" | "warning";
  path: (string | number)[];
  message: string;
}

export const IMPLICIT_WAVE = "rest";
