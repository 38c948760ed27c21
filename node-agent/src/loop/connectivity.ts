/**
 * The built-in canary, the pull form of deploy-rs's magic rollback: after an
 * activation the agent must still reach its git remote and, when it could
 * before, the controller. Retried until the connectivity deadline.
 */
import type { HealthResult } from "../../../schemas/src/api.js";
import type { LoopContext } from "./context.js";
import type { AgentState, Reach } from "./phases.js";

const INTERVAL_MS = 500;

export async function checkConnectivity(ctx: LoopContext, state: AgentState, reach: Reach, on: { rev: string; generation: string }): Promise<HealthResult[]> {
  const { deps } = ctx;
  const deadline = deps.clock.now().getTime() + deps.settings.connectivityTimeoutMs;
  const until = async (check: string, attempt: (timeoutMs: number) => Promise<boolean>): Promise<HealthResult> => {
    let attempts = 0;
    for (;;) {
      attempts++;
      const remaining = Math.max(1000, deadline - deps.clock.now().getTime());
      const ok = await attempt(Math.min(remaining, 15_000)).catch(() => false);
      const now = deps.clock.now();
      if (ok || now.getTime() >= deadline) {
        return {
          check,
          ok,
          detail: ok ? "reachable" : `unreachable for ${deps.settings.connectivityTimeoutMs} ms after activation`,
          time: now.toISOString(),
          rev: on.rev,
          generation: on.generation,
          attempts,
        };
      }
      await deps.clock.sleep(Math.min(INTERVAL_MS, deadline - now.getTime()));
    }
  };
  const checks = [until("connectivity:git", (t) => deps.source.reachable(reach.remote, t))];
  if (reach.controller) checks.push(until("connectivity:controller", () => deps.reporter.probe(state)));
  return Promise.all(checks);
}
