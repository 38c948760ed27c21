/**
 * Wires self-update into the daemon (`flotilla-agent run`), called once from
 * main.ts before the first cycle:
 *
 * 1. resolves a pending update left by the previous agent (confirm.ts); when
 *    this new agent cannot report in time it restores the previous one and
 *    the daemon exits 75 before its first cycle;
 * 2. registers the maintenance task: at each run (between deploy cycles,
 *    from a resting phase only) it re-reads `agent.selfUpdate` at the trusted
 *    head, re-schedules when it changed (schedule.ts), and when the schedule
 *    made an update due runs the steps (updater.ts); a switched profile asks
 *    the daemon to stop and exit 75, so the service manager restarts it
 *    through flotilla-agent-start into the new agent.
 */
import type { Logger } from "../../../common/src/log.js";
import { systemClock } from "../adapters/clock.js";
import type { Runner } from "../adapters/exec.js";
import type { ResolvedConfig } from "../config.js";
import type { Driver } from "../loop/driver.js";
import { isResting, type AgentState } from "../loop/phases.js";
import type { Reporter } from "../ports.js";
import { NixSelfUpdatePorts } from "./adapters.js";
import { confirmAfterStart } from "./confirm.js";
import { SelfUpdateSchedule } from "./schedule.js";
import { nixSystem, type SelfUpdatePorts } from "./types.js";
import { runSelfUpdate } from "./updater.js";

/** EX_TEMPFAIL: the unit restarts the agent (RestartForceExitStatus=75). */
export const RESTART_EXIT_CODE = 75;
export const DEFAULT_AGENT_PROFILE = "/nix/var/nix/profiles/flotilla-agent";

export interface SelfUpdateWiringOptions {
  driver: Driver;
  reporter: Reporter;
  config: ResolvedConfig;
  configPath: string;
  env: Record<string, string | undefined>;
  run: Runner;
  log: Logger;
  /** The daemon's stop switch: aborted to exit after a profile switch. */
  stop: AbortController;
  /** Replace the real ports (tests). */
  ports?: SelfUpdatePorts;
}

export interface SelfUpdateWiring {
  /** 75 after a profile switch (or a restore), else 0. */
  exitCode(): number;
}

/** Only from resting phases, never with a finishing step pending: self-update never interleaves with a deploy. */
export function canSelfUpdate(state: AgentState): boolean {
  const c = state.cycle;
  return isResting(c) && !(c.phase === "done" && c.postDeploy === "pending");
}

export async function startSelfUpdate(o: SelfUpdateWiringOptions): Promise<SelfUpdateWiring> {
  const log = o.log.child("self-update");
  const startedFrom = o.env.FLOTILLA_AGENT_STARTED_FROM || null;
  let exitCode = 0;
  const restart = () => {
    exitCode = RESTART_EXIT_CODE;
    o.stop.abort();
  };
  const loaded = await o.driver.load();
  const state = () => o.driver.current() ?? loaded;
  const ports =
    o.ports ??
    new NixSelfUpdatePorts({
      run: o.run,
      log,
      nix: o.config.commands.nix,
      nixEnv: o.config.commands.nixEnv,
      profile: o.env.FLOTILLA_AGENT_PROFILE || DEFAULT_AGENT_PROFILE,
      stateDir: o.config.stateDir,
      configPath: o.configPath,
      buildTimeoutMs: o.config.timeouts.buildMs,
      report: (d) => o.reporter.event(d, state()),
    });

  const confirmed = await confirmAfterStart(
    {
      startedFrom,
      canReport: async () => !o.reporter.controller() || (await o.reporter.probe(state())),
      sleep: (ms, signal) => systemClock.sleep(ms, signal),
      log,
      signal: o.stop.signal,
    },
    ports,
  );
  if (confirmed === "restore") {
    restart();
    return { exitCode: () => exitCode };
  }

  const schedule = new SelfUpdateSchedule({ log });
  o.stop.signal.addEventListener("abort", () => schedule.stop(), { once: true });
  o.driver.addMaintenanceTask({
    name: "self-update",
    run: async ({ state: s, signal }) => {
      if (signal.aborted) return;
      schedule.sync((await o.driver.fleetAgentSettings())?.selfUpdate);
      const spec = schedule.spec();
      if (!spec || !schedule.due()) return;
      if (!canSelfUpdate(s)) {
        log.info("self-update due; waiting for a resting phase", { phase: s.cycle.phase });
        return; // stays due: the next maintenance run tries again
      }
      try {
        const r = await runSelfUpdate({ spec, startedFrom, system: nixSystem(), log, signal }, ports);
        if (r.kind === "restart") {
          log.info("agent profile switched; exiting 75 to restart into the new agent", { target: r.target });
          await o.reporter.flush().catch(() => false);
          restart();
        }
      } finally {
        schedule.finish();
      }
    },
  });
  return { exitCode: () => exitCode };
}
