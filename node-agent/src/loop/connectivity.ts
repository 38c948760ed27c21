/**
 * The built-in canary, the pull form of deploy-rs's magic rollback: after an
 * activation the host must still reach the network it reached before. It
 * passes as soon as ANY endpoint that answered before the switch (`Reach`:
 * the git remote that answered the poll, and the controller when it answered
 * then) answers again, and fails only when none of them does until the
 * connectivity deadline. So an outage of the controller (or of the git
 * server) alone never reverts a deploy; a generation that cuts the host off
 * does.
 */
import type { HealthResult } from "../../../schemas/src/api.js";
import type { LoopContext } from "./context.js";
import type { AgentState, Reach } from "./phases.js";

const INTERVAL_MS = 500;

export async function checkConnectivity(ctx: LoopContext, state: AgentState, reach: Reach, on: { rev: string; generation: string }): Promise<HealthResult[]> {
  const { deps } = ctx;
  const deadline = deps.clock.now().getTime() + deps.settings.connectivityTimeoutMs;
  const endpoints: { name: string; answers: (timeoutMs: number) => Promise<boolean> }[] = [{ name: "git remote", answers: (t) => deps.source.reachable(reach.remote, t) }];
  if (reach.controller) endpoints.push({ name: "controller", answers: () => deps.reporter.probe(state) });
  let attempts = 0;
  for (;;) {
    attempts++;
    const remaining = Math.max(1000, deadline - deps.clock.now().getTime());
    const answered = await Promise.all(endpoints.map((e) => e.answers(Math.min(remaining, 15_000)).catch(() => false)));
    const reached = endpoints.filter((_, i) => answered[i]).map((e) => e.name);
    const now = deps.clock.now();
    if (reached.length || now.getTime() >= deadline) {
      const missed = endpoints.filter((_, i) => !answered[i]).map((e) => e.name);
      return [
        {
          check: "connectivity",
          ok: reached.length > 0,
          detail: reached.length
            ? `reached ${reached.join(" and ")}${missed.length ? ` (${missed.join(", ")} did not answer: not required while another endpoint answers)` : ""}`
            : `none of the endpoints that answered before the switch (${missed.join(", ")}) answered for ${deps.settings.connectivityTimeoutMs} ms after activation`,
          time: now.toISOString(),
          rev: on.rev,
          generation: on.generation,
          attempts,
        },
      ];
    }
    await deps.clock.sleep(Math.min(INTERVAL_MS, deadline - now.getTime()));
  }
}
