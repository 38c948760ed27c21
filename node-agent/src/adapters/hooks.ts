/**
 * Pre- and post-deploy hooks: an argv run without a shell in a checkout of
 * the revision being deployed, as the hook's user (legacy hosts default to
 * the deploy user), with FLOTILLA_HOST / _REV / _GENERATION / _HOOK set.
 */
import type { HookSpec } from "../../../common/src/fleet/model.js";
import { PostDeployHookError, PreDeployHookError } from "../errors.js";
import type { HookContext, Hooks } from "../ports.js";
import { failureText, type Runner } from "./exec.js";

export class CommandHooks implements Hooks {
  constructor(private readonly o: { run: Runner; runAs: string[] }) {}

  async run(hook: HookSpec, ctx: HookContext): Promise<void> {
    const user = hook.user ?? (ctx.host.kind === "legacy" ? ctx.host.user : undefined);
    const prefix = user ? this.o.runAs.map((a) => a.replaceAll("{user}", user)) : [];
    const [cmd, ...args] = [...prefix, ...hook.command];
    const r = await this.o.run(cmd!, args, {
      cwd: ctx.dir,
      timeoutMs: hook.timeoutMs,
      env: { FLOTILLA_HOST: ctx.host.name, FLOTILLA_REV: ctx.rev, FLOTILLA_GENERATION: ctx.generation, FLOTILLA_HOOK: ctx.stage },
    });
    if (r.exitCode !== 0) {
      const E = ctx.stage === "preDeploy" ? PreDeployHookError : PostDeployHookError;
      throw new E(`${ctx.stage} hook \`${hook.command.join(" ")}\` failed (${failureText(r, hook.timeoutMs)})`);
    }
  }
}
