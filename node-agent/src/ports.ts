/**
 * The agent's side effects, behind thin ports named in domain terms. `loop/`
 * sees only this file (and pure helpers from common/); `adapters/` implement
 * it against git, nix, HTTP and the file system; `main.ts` wires them.
 */
import type { GateAnswer, HealthResult, Nudge, RebootLeaseAnswer } from "../../schemas/src/api.js";
import type { CheckSpec, Fleet, HookSpec, HostSpec } from "../../common/src/fleet/model.js";
import type { Logger } from "../../common/src/log.js";
import type { AgentState, Phase, Previous } from "./loop/phases.js";
import type { EventDraft } from "./loop/events.js";

export interface Clock {
  now(): Date;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** In [0, 1): jitter. */
  random(): number;
}

export interface RetryRequest {
  /** Forget this failed revision (null: all of them). */
  rev: string | null;
  /**
   * Also forget the trusted head, so the next head is judged on its own fleet
   * file: the operator vouches for a rewritten history on this host.
   */
  acceptRewrite?: boolean;
}

export interface StateStore {
  load(): Promise<AgentState | null>;
  /** Atomic: temp file, fsync, rename, fsync of the directory. */
  save(state: AgentState): Promise<void>;
  /** An operator request (`flotilla-agent retry [rev] [--accept-rewrite]`) waiting to be applied by the driver. */
  pendingRetry(): Promise<RetryRequest | null>;
  /** Removes the request once the state that applies it is saved. */
  clearRetry(): Promise<void>;
}

export interface FleetLoad {
  fleet?: Fleet;
  /** Human-readable problems (file:path: message); non-empty when `fleet` is absent. */
  errors: string[];
}

/** The fleet repo, through the persistent bare cache. */
export interface Source {
  init(): Promise<void>;
  /** The branch head on the first remote that answers, fetched into the cache (one `git fetch`). */
  head(): Promise<{ remote: string; sha: string }>;
  /** Makes `sha` (and the branch) available in the cache; incremental. */
  fetch(remote: string, sha: string): Promise<void>;
  hasCommit(sha: string): Promise<boolean>;
  isAncestor(ancestor: string, descendant: string): Promise<boolean>;
  loadFleet(rev: string): Promise<FleetLoad>;
  verifySignature(rev: string, signers: { principal: string; key: string }[]): Promise<{ ok: boolean; signer?: string; detail: string }>;
  /** A flake reference nix can build `rev` from; keeps `rev` reachable in the cache. */
  flakeRef(rev: string): Promise<string>;
  /** A directory holding the files of `rev` (for hooks). */
  checkout(rev: string): Promise<string>;
  /** Does `remote` still answer within `timeoutMs`? (connectivity check) */
  reachable(remote: string, timeoutMs: number): Promise<boolean>;
  /** Drops cache refs and checkouts of revisions not in `keep`. */
  forget(keep: string[]): Promise<void>;
}

export interface BuildRequest {
  host: HostSpec;
  rev: string;
  flakeRef: string;
}

export interface ActivateRequest extends BuildRequest {
  generation: string;
}

/** How one kind of host (NixOS, legacy) builds, activates and rolls back. */
export interface System {
  /** Builds the target; returns its generation (out path, or the legacy app's program path). Changes nothing on the host. */
  build(req: BuildRequest, signal?: AbortSignal): Promise<string>;
  /** The generation active now, as the system itself says (the profile), or null when unknown. */
  current(host: HostSpec): Promise<string | null>;
  activate(req: ActivateRequest): Promise<void>;
  /** Restores the *recorded* previous generation (never `--rollback`). */
  rollback(host: HostSpec, previous: Previous, flakeRef: string | null): Promise<void>;
  /** Removes old generations beyond `keep`, never one in `protect`. */
  prune(host: HostSpec, keep: number, protect: string[]): Promise<void>;
  /**
   * What the host itself says it runs, asked when a restart found the agent in
   * `activating` (the switch may have completed before the agent could save
   * it). NixOS: /run/current-system, which the activation sets, so the rest of
   * the switch may not have run (`complete: false`); legacy: the record the
   * app run writes when the app exits 0 (`complete: true`). null: unknown.
   */
  applied?(host: HostSpec): Promise<Applied | null>;
  /** NixOS: the generation the host booted (/run/booted-system), or null when unknown. */
  booted?(): Promise<string | null>;
  /** NixOS: does running `generation` need a reboot (kernel, initrd or modules differ from the booted system's)? null: unknown. */
  needsReboot?(generation: string): Promise<boolean | null>;
}

export interface Applied {
  /** The revision, when the record names one. */
  rev: string | null;
  generation: string;
  /** The whole activation ran (false: it got at least as far as making this generation current). */
  complete: boolean;
}

/** A binary cache and the Nix public key its narinfo signatures must verify with. */
export interface CacheRef {
  url: string;
  publicKey: string;
}

/** Build once, substitute everywhere: release manifests from the fleet remote, closures from binary caches. */
export interface Delivery {
  /** The signed release manifest of `rev` published on `remote` (its text), or null when there is none (yet). Throws when the remote does not answer. */
  fetchRelease(remote: string, rev: string): Promise<string | null>;
  /** Is `path` valid in the local store? */
  has(path: string): Promise<boolean>;
  /**
   * Realises `path` (and its closure) from the first cache that has it, Nix
   * checking every narinfo signature against the caches' public keys.
   * Throws NarinfoUntrustedError, CachePathMissingError or CacheUnreachableError, and
   * SubstituteMismatchError when the copy succeeded but `path` is not in the store.
   */
  realise(path: string, caches: CacheRef[], signal?: AbortSignal): Promise<{ cache: string }>;
}

export interface HookContext {
  host: HostSpec;
  rev: string;
  generation: string;
  dir: string;
  stage: "preDeploy" | "postDeploy";
}

export interface Hooks {
  run(hook: HookSpec, ctx: HookContext): Promise<void>;
}

export interface HealthContext {
  host: HostSpec;
  rev: string;
  generation: string;
}

export interface Health {
  /** Runs every check until its required consecutive successes or its deadline; results name rev and generation. */
  verify(checks: CheckSpec[], ctx: HealthContext, signal?: AbortSignal): Promise<HealthResult[]>;
}

export interface Reporter {
  /** Signs and queues a transition event on disk (durable before it returns), then delivers in the background. */
  event(draft: EventDraft, state: AgentState): Promise<void>;
  heartbeat(state: AgentState): Promise<void>;
  /** Delivers queued reports in order; true when the queue is empty afterwards. */
  flush(): Promise<boolean>;
  /** Is the controller reachable now? (sends the queue, or a heartbeat when it is empty) */
  probe(state: AgentState): Promise<boolean>;
  queueLength(): number;
  setController(url: string | null): void;
  controller(): string | null;
}

/** Reboot coordination: the controller's lease semaphore (POST /api/v1/reboot-lease). */
export interface RebootLeaseClient {
  /** The controller's answer, or null when it cannot be asked or does not answer (then: do not reboot). */
  request(action: "take" | "release", generation: string, booted?: string): Promise<RebootLeaseAnswer | null>;
}

/** Reboots the machine (default `systemctl reboot`); returns once the command has been accepted. */
export interface Rebooter {
  reboot(): Promise<void>;
}

export interface Gate {
  /** The controller's gate answer for (host, rev), or null when it cannot be asked or does not answer. */
  ask(rev: string): Promise<GateAnswer | null>;
}

/** The controller's long-poll (`GET /api/v1/watch`): one request at a time; `loop/nudges.ts` keeps it open. */
export interface Watch {
  /**
   * Waits (up to about `timeoutMs`, the controller caps it) until the controller knows a head other
   * than `since` or this host's wave gate opens. null when no controller is configured. Throws when
   * the controller does not answer or answers something else than a Nudge; the caller backs off.
   */
  wait(since: string | null, timeoutMs: number, signal: AbortSignal): Promise<Nudge | null>;
}

export interface SecretsContext {
  fleet: Fleet;
  host: HostSpec;
  rev: string;
}

/** Install secrets before activation, switch back on rollback. */
export interface Secrets {
  /** Prepares and activates the secrets generation of `rev`; returns its id, or null when the host has none. */
  install(ctx: SecretsContext): Promise<string | null>;
  /** Returns to the secrets generation of `rev` (the previous one). */
  rollback(ctx: SecretsContext): Promise<void>;
  prune(keep: number): Promise<void>;
}

/** What the commands of the step in progress printed (build, activation, hooks, command checks). */
export interface StepOutput {
  /** Forgets what was captured (before a step starts). */
  reset(): void;
  /** The redacted, capped tail of the output since reset(), or null when nothing was printed; resets. */
  take(): Promise<{ text: string; truncated: boolean } | null>;
}

export interface Metrics {
  observe(state: AgentState, queueLength: number): void;
  poll(result: "unchanged" | "changed" | "error"): void;
}

/** Runs between cycles (self-update hooks in here). */
export interface MaintenanceTask {
  name: string;
  run(ctx: { state: AgentState; log: Logger; signal: AbortSignal }): Promise<void>;
}

export interface AgentSettings {
  host: string;
  /** Overrides policy.controller of the fleet file. */
  controller: string | null;
  connectivityTimeoutMs: number;
  /** How often an activation may be interrupted (crash mid-switch) before the target counts as failed. */
  maxInterruptions: number;
  agentVersion: string;
}

export interface AgentDeps {
  settings: AgentSettings;
  log: Logger;
  clock: Clock;
  store: StateStore;
  source: Source;
  systems: { nixos: System; legacy: System };
  hooks: Hooks;
  health: Health;
  reporter: Reporter;
  gate: Gate;
  /** Reboot coordination (fleet `reboot: {policy: auto}`); absent: the agent never reboots the host. */
  reboots?: { lease: RebootLeaseClient; rebooter: Rebooter };
  secrets: Secrets;
  /** Substitute mode (delivery: substitute); absent: every host builds. */
  delivery?: Delivery;
  metrics?: Metrics;
  /** Output tails sent with the transition events; absent: events carry none. */
  output?: StepOutput;
  /** Test-only: called after each save (FLOTILLA_AGENT_TEST_PAUSE). */
  afterSave?: (phase: Phase) => Promise<void>;
}
