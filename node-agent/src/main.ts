/**
 * flotilla-agent: wiring and the CLI. The only place that builds the real
 * adapters; everything else receives them as one named object (AgentDeps).
 *
 *   flotilla-agent run      [--config FILE]   the daemon
 *   flotilla-agent once     [--config FILE]   one cycle; exit 0 when healthy on the target
 *   flotilla-agent status   [--config FILE] [--json]
 *   flotilla-agent retry    [--config FILE] [REV]
 *   flotilla-agent self-test [--config FILE]  checks run by the self-update on a new build
 *   flotilla-agent restore-secrets [--config FILE]  the unit's ExecStartPre (boot/restore-secrets.ts)
 */
import { existsSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import { createLogger, envLogFormat, journalPrefix, type Logger } from "../../common/src/log.js";
import { commandRunner } from "./adapters/exec.js";
import { CapturedOutput } from "./adapters/step-output.js";
import { systemClock } from "./adapters/clock.js";
import { CommandRebooter, HttpRebootLease } from "./adapters/reboot.js";
import { HttpGate } from "./adapters/gate.js";
import { GitSource } from "./adapters/git.js";
import { CommandHooks } from "./adapters/hooks.js";
import { CheckRunner } from "./adapters/health.js";
import { HostKeyFile } from "./adapters/host-key.js";
import { HttpReporter } from "./adapters/http-reporter.js";
import { LegacySystem } from "./adapters/legacy.js";
import { acquireLock } from "./adapters/lock.js";
import { secretsRootWarnings } from "./adapters/secrets-root.js";
import type { PromMetrics } from "./adapters/metrics.js";
import { NixosSystem } from "./adapters/nix.js";
import { withFlakeFeatures } from "./adapters/nix-features.js";
import { Outbox } from "./adapters/queue.js";
import { SopsSecretsAdapter } from "./adapters/sops.js";
import { FileStateStore, removeStaleTemps } from "./adapters/state-file.js";
import { testPauseFromEnv } from "./adapters/test-pause.js";
import { HttpWatch } from "./adapters/watch.js";
import { NixDelivery } from "./adapters/substituter.js";
import { DEFAULT_CONFIG_PATH, defaultConfigPath, loadConfigFile, type ResolvedConfig } from "./config.js";
import { errorInfo } from "./errors.js";
import { Driver, type CycleResult } from "./loop/driver.js";
import { selfTest } from "./self-update/self-test.js";
import { watchOwnRestartInputs } from "./self-update/restart-on-change.js";
import { RESTART_EXIT_CODE, startSelfUpdate } from "./self-update/service.js";
import { Nudges } from "./loop/nudges.js";
import { restoreSecrets } from "./boot/restore-secrets.js";
import type { AgentDeps, Secrets, Watch } from "./ports.js";
import { timerDelay } from "../../schemas/src/duration.js";

export const USAGE = `flotilla-agent: pull-based GitOps agent for NixOS and legacy hosts

Usage: flotilla-agent <command> [--config FILE] [options]

Commands:
  run               poll and deploy forever (the daemon)
  once              one cycle: poll, deploy if needed, report; exit 0 when the
                    host ends healthy on its target, non-zero with the reason
  status [--json]   target, current revision and generation, phase, last
                    outcome, failed revisions, report queue length
  retry [REV] [--accept-rewrite]
                    forget failed revisions (all, or REV) and retry a failed
                    rollback; applied by the running agent at its next cycle.
                    --accept-rewrite also forgets the trusted head, so a
                    branch that was force-pushed is accepted on this host
  self-test         check this agent: config, state, fleet remote, controller;
                    one JSON line with the version; exit 0 ok, 1 not (used by
                    the self-update on a new build before switching to it)
  restore-secrets   after a reboot emptied the secrets root (tmpfs): install the
                    current revision's secrets again from the fleet cache; run
                    by the agent's unit before the agent (ExecStartPre)

Options:
  --config FILE     agent config (YAML or JSON), default ${DEFAULT_CONFIG_PATH};
                    for a user other than root without that file, its own
                    ~/.config/flotilla/agent.yaml (where install-legacy-agent
                    puts it; $XDG_CONFIG_HOME when set)
  --json            machine-readable status
  -h, --help        this text
  -V, --version     print the version

REV for retry is a full revision or any unambiguous prefix of at least 7 hex
digits of a failed revision or the target (as \`status\` prints them).

Exit codes: 0 ok, 1 failure, 2 usage or config error; once also 1 deploy
failed / refused / rolled back, 3 waiting for the wave gate, 4 rollback failed
(stalled); run 75 to be restarted by its unit (self-update).
`;

function agentVersion(): string {
  for (const rel of ["../../../package.json", "../../package.json"]) {
    try {
      return (JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as { version: string }).version;
    } catch {
      // try the next layout (dist/ or source)
    }
  }
  return "0.0.0";
}

export interface Agent {
  config: ResolvedConfig;
  deps: AgentDeps;
  driver: Driver;
  reporter: HttpReporter;
  /** Only with metrics.listen: prom-client is imported only then. */
  metrics: PromMetrics | null;
  /** The controller's long-poll (daemon only). */
  watch: Watch;
}

export interface CreateAgentOptions {
  /** Environment of every external command (process.env in production). */
  env: Record<string, string | undefined>;
  log: Logger;
  /** Replace the secrets installer (default: the secrets module's SOPS installer). */
  secrets?: Secrets;
}

/** Builds the real adapters for `config`. */
export async function createAgent(config: ResolvedConfig, o: CreateAgentOptions): Promise<Agent> {
  const log = o.log;
  // Flakes on for every command, whatever the host's nix.conf says (nix-features.ts).
  // Every command of a deploy step is captured for the step's output tail (sent with its event).
  const output = new CapturedOutput({ secretsRoot: config.secretsRoot });
  const run = output.wrap(commandRunner(log.child("cmd"), withFlakeFeatures(o.env)));
  const clock = systemClock;
  // Read again from disk after a 401 BadSignature (host-key rotation); the gate signs with it too.
  const signer = await HostKeyFile.load(config.host, config.hostKeyPath);
  const version = o.env.FLOTILLA_AGENT_VERSION_OVERRIDE || agentVersion();
  // Temp files of atomic writes whose writer died (kill -9 mid-write) would hold space forever.
  await removeStaleTemps(`${config.stateDir}/outbox`);
  const outbox = new Outbox(`${config.stateDir}/outbox`, { ...config.queue, log: log.child("queue") });
  const reporter = new HttpReporter({ signer, outbox, clock, log: log.child("reporter"), agentVersion: version });
  const metrics = config.metricsListen ? new (await import("./adapters/metrics.js")).PromMetrics(version) : null;
  if (metrics) {
    metrics.setReportsSetAside(reporter.setAsideCount());
    reporter.onSetAside = (n) => metrics.setReportsSetAside(n);
  }
  const source = new GitSource({ stateDir: config.stateDir, remotes: config.remotes, branch: config.branch, git: config.commands.git, timeoutMs: config.timeouts.gitMs, log: log.child("git") });
  await source.init();
  const afterSave = testPauseFromEnv(o.env as NodeJS.ProcessEnv);
  const deps: AgentDeps = {
    settings: { host: config.host, controller: config.controller, connectivityTimeoutMs: config.timeouts.connectivityMs, maxInterruptions: 2, agentVersion: version },
    log: log.child("loop"),
    clock,
    store: new FileStateStore(config.stateDir),
    source,
    systems: {
      nixos: new NixosSystem({
        run,
        log: log.child("nix"),
        nix: config.commands.nix,
        nixEnv: config.commands.nixEnv,
        nixosRebuild: config.commands.nixosRebuild,
        profile: config.profile,
        bootedSystem: config.bootedSystem,
        currentSystem: config.currentSystem,
        activation: config.activation,
        buildTimeoutMs: config.timeouts.buildMs,
        activateTimeoutMs: config.timeouts.activateMs,
      }),
      legacy: new LegacySystem({ run, nix: config.commands.nix, nixStore: config.commands.nixStore, runAs: config.commands.runAs, buildTimeoutMs: config.timeouts.buildMs, activateTimeoutMs: config.timeouts.activateMs, recordDir: config.legacyProfileDir }),
    },
    hooks: new CommandHooks({ run, runAs: config.commands.runAs }),
    health: new CheckRunner({ run, clock, systemctl: config.commands.systemctl }),
    reporter,
    gate: new HttpGate({ signer, controller: () => reporter.controller(), clock, log: log.child("gate") }),
    reboots: {
      lease: new HttpRebootLease({ signer, controller: () => reporter.controller(), clock, log: log.child("reboot") }),
      rebooter: new CommandRebooter({ run, argv: config.commands.reboot }),
    },
    secrets:
      o.secrets ??
      new SopsSecretsAdapter({
        root: config.secretsRoot,
        hostKeyPath: config.hostKeyPath,
        readFile: (rev, file) => source.mirror.readFile(rev, file),
        run,
        systemctl: config.commands.systemctl,
        log: log.child("secrets"),
      }),
    delivery: new NixDelivery({
      run,
      log: log.child("delivery"),
      nix: config.commands.nix,
      git: config.commands.git,
      gitDir: source.mirror.dir,
      gitTimeoutMs: config.timeouts.gitMs,
      copyTimeoutMs: config.timeouts.buildMs,
    }),
    ...(metrics ? { metrics } : {}),
    output,
    ...(afterSave ? { afterSave } : {}),
  };
  const driver = new Driver(deps);
  const watch = new HttpWatch({ signer, clock, controller: () => reporter.controller() });
  return { config, deps, driver, reporter, metrics, watch };
}

/** Every command `flotilla-agent` knows (tests iterate it for --help). */
export const COMMANDS = ["run", "once", "status", "retry", "self-test", "restore-secrets"] as const;

interface Args {
  command: string | null;
  /** null: not given (defaultConfigPath). */
  config: string | null;
  json: boolean;
  help: boolean;
  version: boolean;
  acceptRewrite: boolean;
  rest: string[];
}

function parseArgs(argv: string[]): Args | string {
  const a: Args = { command: null, config: null, json: false, help: false, version: false, acceptRewrite: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === "--help" || x === "-h") a.help = true;
    else if (x === "--version" || x === "-V") a.version = true;
    else if (x === "--json") a.json = true;
    else if (x === "--accept-rewrite") a.acceptRewrite = true;
    else if (x === "--config" || x === "-c") {
      const v = argv[++i];
      if (!v) return "option --config needs a file";
      a.config = v;
    } else if (x.startsWith("--config=")) a.config = x.slice(9);
    else if (x.startsWith("-")) return `unknown option ${x}`;
    else if (!a.command) a.command = x;
    else a.rest.push(x);
  }
  return a;
}

export interface MainIo {
  env: Record<string, string | undefined>;
  out: (s: string) => void;
  err: (s: string) => void;
}

const defaultIo = (): MainIo => ({ env: process.env, out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });

const CODES: Record<CycleResult["code"], number> = { ok: 0, failed: 1, error: 1, waiting: 3, stalled: 4 };

/** A usage error: one line naming what was wrong, a --help hint, exit 2. */
function usageError(io: MainIo, message: string): number {
  io.err(`flotilla-agent: ${message}\nRun \`flotilla-agent --help\` for usage.\n`);
  return 2;
}

/** Exit codes: 0 ok, 1 failure, 2 usage or config error (once: 3 waiting, 4 stalled; run: 75 restart). */
export async function main(argv: string[], io: MainIo = defaultIo()): Promise<number> {
  const args = parseArgs(argv);
  if (typeof args === "string") return usageError(io, args);
  if (args.help || args.command === "help") {
    io.out(USAGE);
    return 0;
  }
  if (args.version) {
    io.out(`flotilla-agent ${agentVersion()}\n`);
    return 0;
  }
  if (!args.command) {
    io.err(USAGE);
    return 2;
  }
  if (!(COMMANDS as readonly string[]).includes(args.command)) return usageError(io, `unknown command "${args.command}"`);
  const maxArgs = args.command === "retry" ? 1 : 0;
  if (args.rest.length > maxArgs) return usageError(io, `${args.command}: unexpected argument ${args.rest[maxArgs]}`);
  const configPath = args.config ?? defaultConfigPath(io.env, process.getuid?.(), existsSync);
  const loaded = await loadConfigFile(configPath);
  if (!loaded.ok) {
    io.err(`flotilla-agent: invalid config:\n${loaded.errors.map((e) => `  ${e}`).join("\n")}\n`);
    return 2;
  }
  const config = loaded.config;
  const log = createLogger({ component: "flotilla-agent", level: config.logLevel, format: config.logFormat ?? envLogFormat(io.env), journal: Boolean(io.env.JOURNAL_STREAM), write: (l) => io.err(`${l}\n`) });
  for (const w of loaded.warnings) log.warn(w);

  try {
    switch (args.command) {
      case "status":
        return await status(config, args.json, io);
      case "retry":
        return await retry(config, args.rest[0] ?? null, args.acceptRewrite, io);
      case "once":
        return await once(config, io, log);
      case "run":
        return await daemon(config, io, log, configPath);
      case "restore-secrets": {
        const source = new GitSource({ stateDir: config.stateDir, remotes: config.remotes, branch: config.branch, git: config.commands.git, timeoutMs: config.timeouts.gitMs, log: log.child("git") });
        await source.init();
        const outcome = await restoreSecrets({
          host: config.host,
          root: config.secretsRoot,
          hostKeyPath: config.hostKeyPath,
          store: new FileStateStore(config.stateDir),
          source: { loadFleet: (rev) => source.loadFleet(rev), readFile: (rev, file) => source.mirror.readFile(rev, file) },
          log,
        });
        io.out(`restore-secrets: ${outcome}\n`);
        return 0;
      }
      case "self-test":
        return await selfTest(config, { version: io.env.FLOTILLA_AGENT_VERSION_OVERRIDE || agentVersion(), log, out: io.out });
    }
  } catch (e) {
    const err = errorInfo(e);
    io.err(`${journalPrefix("error", io.env)}flotilla-agent: ${err.reason}: ${err.message}\n`);
    return 1;
  }
  return 2;
}

async function status(config: ResolvedConfig, json: boolean, io: MainIo): Promise<number> {
  const store = new FileStateStore(config.stateDir);
  const state = await store.load();
  const outbox = new Outbox(`${config.stateDir}/outbox`, { ...config.queue, log: createLogger({ component: "status", level: "error" }) });
  const retryPending = (await store.pendingRetry()) !== null;
  const c = state?.cycle;
  const target = c && "target" in c && c.target ? c.target : null;
  const report = {
    host: config.host,
    phase: c?.phase ?? "idle",
    target: target ? { rev: target.rev, resolution: target.resolution, head: target.head } : null,
    current: state?.current ?? null,
    generation: c && "generation" in c ? c.generation : (state?.current?.generation ?? null),
    lastOutcome: state?.lastOutcome ?? null,
    error: c && "error" in c ? c.error : null,
    failedRevs: state?.failedRevs ?? [],
    queueLength: outbox.length,
    reportsSetAside: outbox.setAsideCount(),
    retryPending,
    updatedAt: state?.updatedAt ?? null,
  };
  if (json) {
    io.out(JSON.stringify(report, null, 2) + "\n");
    return 0;
  }
  const lines = [
    `host:        ${report.host}`,
    `phase:       ${report.phase}`,
    `current:     ${report.current ? `${report.current.rev} ${report.current.generation}` : "none (no verified generation yet)"}`,
    `target:      ${report.target ? `${report.target.rev} (${report.target.resolution})` : "-"}`,
    `last:        ${report.lastOutcome ? `${report.lastOutcome.time} ${report.lastOutcome.phase} ${report.lastOutcome.outcome} ${report.lastOutcome.reason}${report.lastOutcome.message ? `: ${report.lastOutcome.message.split("\n")[0]}` : ""}` : "-"}`,
    `failed revs: ${report.failedRevs.length ? report.failedRevs.map((f) => `${f.rev.slice(0, 12)} (${f.reason})`).join(", ") : "none"}`,
    `queue:       ${report.queueLength} report(s) waiting for the controller`,
    ...(report.reportsSetAside ? [`set aside:   ${report.reportsSetAside} report(s) the controller refused for good, kept in ${outbox.dir}/rejected/ (reason in <seq>.reason)`] : []),
    ...(retryPending ? ["retry:       requested; applied at the next cycle"] : []),
  ];
  io.out(lines.join("\n") + "\n");
  return 0;
}

async function retry(config: ResolvedConfig, prefix: string | null, acceptRewrite: boolean, io: MainIo): Promise<number> {
  const store = new FileStateStore(config.stateDir);
  let rev: string | null = null;
  if (prefix) {
    const state = await store.load();
    const c = state?.cycle;
    const target = c && "target" in c && c.target ? c.target.rev : null;
    const known = [...new Set([...(state?.failedRevs ?? []).map((f) => f.rev), ...(target ? [target] : [])])];
    const resolved = resolveRevPrefix(prefix.toLowerCase(), known);
    if ("error" in resolved) {
      io.err(`flotilla-agent retry: ${resolved.error}\n`);
      return 2;
    }
    rev = resolved.rev;
  }
  await store.requestRetry({ rev, ...(acceptRewrite ? { acceptRewrite: true } : {}) });
  const what = `${rev ?? "all failed revisions"}${acceptRewrite ? ", accepting a rewritten branch history" : ""}`;
  io.out(`retry requested for ${what}; the agent applies it at its next cycle (or run \`flotilla-agent once\`)\n`);
  return 0;
}

/**
 * A revision from what the operator typed: a full 40-hex revision (known to
 * this host or not), or an unambiguous prefix (≥ 7 hex) of one it knows.
 */
export function resolveRevPrefix(prefix: string, known: string[]): { rev: string } | { error: string } {
  const list = (revs: string[]) => (revs.length ? revs.map((r) => r.slice(0, 12)).join(", ") : "none");
  if (!/^[0-9a-f]{7,40}$/.test(prefix)) return { error: `"${prefix}" is not a revision: expected 7 to 40 hex digits (failed revisions: ${list(known)})` };
  const matches = known.filter((r) => r.startsWith(prefix));
  if (matches.length === 1) return { rev: matches[0]! };
  if (matches.length > 1) return { error: `revision prefix ${prefix} is ambiguous: it matches ${matches.join(", ")}; give more digits` };
  if (prefix.length === 40) return { rev: prefix };
  return { error: `no failed revision or target starts with ${prefix} (failed revisions: ${list(known)})` };
}

/** Decrypted secrets on a disk, or in a directory others can write, deserve a loud line at every start. */
function warnUnsafeSecretsRoot(config: ResolvedConfig, log: Logger): void {
  for (const w of secretsRootWarnings(config.secretsRoot)) log.warn(`SECRETS ROOT UNSAFE: ${w}`);
}

async function once(config: ResolvedConfig, io: MainIo, log: Logger): Promise<number> {
  const release = acquireLock(config.stateDir);
  warnUnsafeSecretsRoot(config, log);
  try {
    const agent = await createAgent(config, { env: io.env, log });
    const result = await agent.driver.runCycle();
    await agent.reporter.heartbeat(result.state);
    const delivered = await agent.reporter.flush();
    if (!delivered && agent.reporter.controller()) log.warn("reports stay queued on disk until the controller answers", { queued: agent.reporter.queueLength() });
    const line = `${result.code}: ${result.reason}: ${result.message}`;
    (result.code === "ok" ? io.out : io.err)(`${line}\n`);
    return CODES[result.code];
  } finally {
    release();
  }
}

/**
 * How long a stopping daemon waits for the step in progress (a switch, a
 * rollback) before it exits anyway. The units' TimeoutStopSec (5 min,
 * nix/modules/agent.nix, nix/install-legacy-agent.sh) must stay above it.
 */
export const STOP_BOUND_MS = 4 * 60_000;

async function daemon(config: ResolvedConfig, io: MainIo, log: Logger, configPath: string): Promise<number> {
  const release = acquireLock(config.stateDir);
  warnUnsafeSecretsRoot(config, log);
  const stop = new AbortController();
  // A stop (systemctl stop: SIGTERM to this process only, KillMode=mixed)
  // starts no new step; a switch or rollback in progress runs to its end and
  // its outcome is saved (loop/driver.ts, STOP_BEFORE), within STOP_BOUND_MS;
  // then the daemon exits. The listeners stay installed (`on`, not `once`):
  // execa's signal-exit kills the children and re-raises the signal when it
  // finds itself the only SIGTERM listener, which would kill the switch at once.
  let forced: NodeJS.Timeout | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      log.warn("already stopping: waiting for the step in progress", { signal: sig });
      return;
    }
    // No new steps; a switch or rollback in progress finishes first (within boundMs).
    log.info("stopping", { signal: sig, boundMs: STOP_BOUND_MS });
    stop.abort();
    forced = setTimeout(() => {
      log.error("the step in progress did not finish within the stop bound; exiting anyway (the next start converges)", { boundMs: STOP_BOUND_MS });
      process.exit(1);
    }, STOP_BOUND_MS);
    forced.unref();
  };
  const onTerm = () => onSignal("SIGTERM");
  const onInt = () => onSignal("SIGINT");
  process.on("SIGTERM", onTerm);
  process.on("SIGINT", onInt);
  let server: Server | null = null;
  let heartbeat: NodeJS.Timeout | null = null;
  try {
    const agent = await createAgent(config, { env: io.env, log });
    if (config.metricsListen && agent.metrics) {
      server = await agent.metrics.listen(config.metricsListen);
      log.info("metrics endpoint listening", { listen: config.metricsListen });
    }
    // Self-update (self-update/service.ts): first confirms or undoes an update
    // left pending by the previous agent (may stop the daemon with exit 75),
    // then a maintenance task (between cycles, resting phases only) runs the
    // cron schedule of agent.selfUpdate and exits 75 after a switch.
    const selfUpdate = await startSelfUpdate({ driver: agent.driver, reporter: agent.reporter, config, configPath, env: io.env, run: commandRunner(log.child("cmd"), withFlakeFeatures(io.env)), log, stop });
    // Restart-on-change (self-update/restart-on-change.ts): a deploy that
    // changed this agent's unit, config or package does not restart it; the
    // agent exits 75 between cycles and the unit starts it again.
    const restartWatch = await watchOwnRestartInputs(io.env, configPath);
    const state = await agent.driver.load();
    heartbeat = setInterval(() => {
      const s = agent.driver.current() ?? state;
      void agent.reporter.heartbeat(s).catch((e: Error) => log.warn("heartbeat failed", { error: e.message }));
    }, Math.max(1_000, timerDelay(config.heartbeatIntervalMs)));
    // The controller's long-poll cuts the sleep below short when a merge or an open gate is news.
    const nudges = new Nudges({
      watch: agent.watch, clock: systemClock, log: log.child("watch"),
      onRetry: (d) => agent.driver.offerRetry(d), applied: (id) => agent.driver.applied(id),
    });
    void nudges.follow(stop.signal);
    let failures = 0;
    while (!stop.signal.aborted) {
      const result = await agent.driver.runCycle(stop.signal);
      nudges.known(result.head);
      failures = result.code === "error" ? failures + 1 : 0;
      agent.metrics?.setQueueLength(agent.reporter.queueLength());
      await agent.driver.runMaintenance(stop.signal);
      const changed = stop.signal.aborted ? [] : ((await restartWatch?.check()) ?? []);
      if (changed.length) {
        log.info("this agent's own inputs changed; exiting 75 to be restarted with them", { changed: changed.join(",") });
        return RESTART_EXIT_CODE;
      }
      const spec = await agent.driver.fleetAgentSettings();
      const interval = config.pollIntervalMs ?? spec?.pollIntervalMs ?? 60_000;
      const jitter = config.jitterMs ?? spec?.jitterMs ?? 10_000;
      // Transient errors back off (up to 8 intervals); the jitter spreads the fleet.
      const backoff = Math.min(2 ** Math.max(0, failures - 1), 8);
      await nudges.sleep(interval * (failures ? backoff : 1) + Math.floor(systemClock.random() * jitter), stop.signal);
    }
    return selfUpdate.exitCode();
  } finally {
    stop.abort(); // ends the long-poll too
    if (heartbeat) clearInterval(heartbeat);
    if (forced) clearTimeout(forced);
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onInt);
    server?.close();
    release();
  }
}
