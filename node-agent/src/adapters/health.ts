/**
 * Health checks from the fleet file: http, tcp, systemd (system or --user
 * unit) and command. Each runs until it has `successes` consecutive good
 * attempts or its deadline passes; every attempt has its own timeout. The
 * result names the revision and generation it was measured on, and its
 * detail is secret-free (status or exit code, never a body).
 */
import { connect } from "node:net";
import type { HealthResult } from "../../../schemas/src/api.js";
import type { CheckSpec } from "../../../common/src/fleet/model.js";
import type { Clock, Health, HealthContext } from "../ports.js";
import type { Runner } from "./exec.js";
import { httpCall } from "./http-client.js";
import { timerDelay } from "../../../schemas/src/duration.js";
import { BODY_MATCH_MAX_BYTES } from "../../../schemas/src/names.js";

type Attempt = { ok: boolean; detail: string };

export class CheckRunner implements Health {
  constructor(private readonly o: { run: Runner; clock: Clock; systemctl: string }) {}

  async verify(checks: CheckSpec[], ctx: HealthContext, signal?: AbortSignal): Promise<HealthResult[]> {
    return Promise.all(checks.map((c) => this.until(c, ctx, signal)));
  }

  private async until(c: CheckSpec, ctx: HealthContext, signal?: AbortSignal): Promise<HealthResult> {
    const { clock } = this.o;
    const deadline = clock.now().getTime() + c.deadlineMs;
    let attempts = 0;
    let streak = 0;
    for (;;) {
      attempts++;
      const a = await this.attempt(c, ctx).catch((e: Error): Attempt => ({ ok: false, detail: e.message.slice(0, 200) }));
      streak = a.ok ? streak + 1 : 0;
      const now = clock.now();
      const done = streak >= c.successes;
      if (done || now.getTime() + c.intervalMs > deadline || signal?.aborted) {
        return {
          check: c.name,
          ok: done,
          detail: done ? `${a.detail}; ${streak} consecutive` : `${a.detail} (after ${attempts} attempts, ${streak}/${c.successes} consecutive)`,
          time: now.toISOString(),
          rev: ctx.rev,
          generation: ctx.generation,
          attempts,
        };
      }
      await clock.sleep(c.intervalMs, signal);
    }
  }

  private async attempt(c: CheckSpec, ctx: HealthContext): Promise<Attempt> {
    switch (c.type) {
      case "http": {
        const expect = c.expectStatus ?? 200;
        // Redirects are never followed: a 3xx is the answer.
        const res = await httpCall(c.url, { method: "GET", timeoutMs: c.timeoutMs, discardBody: !c.bodyMatch });
        const body = res.text;
        if (res.status !== expect) return { ok: false, detail: `HTTP ${res.status}, expected ${expect}` };
        if (c.bodyMatch && !new RegExp(c.bodyMatch).test(body.slice(0, BODY_MATCH_MAX_BYTES))) return { ok: false, detail: `HTTP ${res.status}, body does not match` };
        return { ok: true, detail: `HTTP ${res.status}` };
      }
      case "tcp": {
        const host = c.host ?? "127.0.0.1";
        return new Promise<Attempt>((resolve) => {
          const s = connect({ host, port: c.port });
          const t = setTimeout(() => finish({ ok: false, detail: `no connection to ${host}:${c.port} within ${c.timeoutMs} ms` }), timerDelay(c.timeoutMs));
          function finish(r: Attempt) {
            clearTimeout(t);
            s.destroy();
            resolve(r);
          }
          s.once("connect", () => finish({ ok: true, detail: `connected to ${host}:${c.port}` }));
          s.once("error", (e: NodeJS.ErrnoException) => finish({ ok: false, detail: `${host}:${c.port}: ${e.code ?? e.message}` }));
        });
      }
      case "systemd": {
        const user = c.user ? (ctx.host.kind === "legacy" ? ctx.host.user : undefined) : undefined;
        if (c.user && !user) return { ok: false, detail: "a --user unit check needs a legacy host with a deploy user" };
        const args = [...(user ? ["--user", `--machine=${user}@`] : []), "is-active", "--quiet", "--", c.unit];
        const r = await this.o.run(this.o.systemctl, args, { timeoutMs: c.timeoutMs });
        return { ok: r.exitCode === 0, detail: `systemctl is-active ${c.unit}: exit ${r.exitCode}${r.timedOut ? " (timed out)" : ""}` };
      }
      case "command": {
        const [cmd, ...args] = c.command;
        const r = await this.o.run(cmd!, args, { timeoutMs: c.timeoutMs });
        return { ok: r.exitCode === 0, detail: `exit ${r.exitCode}${r.timedOut ? " (timed out)" : ""}` };
      }
    }
  }
}
