/**
 * Pre- and post-deploy hooks: an argv run without a shell in a checkout of
 * the revision being deployed, as the hook's user (legacy hosts default to
 * the deploy user), with FLOTILLA_HOST / _REV / _GENERATION / _HOOK set.
 * On legacy hosts the hook sees the same environment as the app: the first
 * existing env file of the host (.env.production over .env.local, relative to
 * its project directory) is loaded by the legacy env loader (legacy.ts) before the argv runs.
 */
import { isAbsolute, join } from "node:path";
import type { HookSpec } from "../../../common/src/fleet/model.js";
import { PostDeployHookError, PreDeployHookError } from "../errors.js";
import type { HookContext, Hooks } from "../ports.js";
import { failureText, type Runner } from "./exec.js";
import { LOAD_ENV_SCRIPT, registerEnvValues } from "./legacy.js";

/** argv of one hook run (pure; tested as such). */
export function hookArgv(runAs: string[], hook: HookSpec, ctx: Pick<HookContext, "host" | "dir">): string[] {
  const host = ctx.host;
  const user = hook.user ?? (host.kind === "legacy" ? host.user : undefined);
  const prefix = user ? runAs.map((a) => a.replaceAll("{user}", user)) : [];
  if (host.kind !== "legacy") return [...prefix, ...hook.command];
  // The loader cds into its first argument: the checkout (where hooks run); env files are made absolute.
  const files = host.envFiles.map((f) => (isAbsolute(f) ? f : join(host.projectDir, f)));
  return [...prefix, "sh", "-c", LOAD_ENV_SCRIPT, "flotilla-load-env", ctx.dir, String(files.length), ...files, ...hook.command];
}

export class CommandHooks implements Hooks {
  constructor(private readonly o: { run: Runner; runAs: string[] }) {}

  async run(hook: HookSpec, ctx: HookContext): Promise<void> {
    if (ctx.host.kind === "legacy") await registerEnvValues(ctx.host);
    const [cmd, ...args] = hookArgv(this.o.runAs, hook, ctx);
    const r = await this.o.run(cmd!, args, {
      cwd: ctx.dir,
      timeoutMs: hook.timeoutMs,
      label: ctx.host.kind === "legacy" ? `${hook.command.join(" ")} [as ${hook.user ?? ctx.host.user}, env from ${ctx.host.envFiles.join(" > ")}]` : hook.command.join(" "),
      env: { FLOTILLA_HOST: ctx.host.name, FLOTILLA_REV: ctx.rev, FLOTILLA_GENERATION: ctx.generation, FLOTILLA_HOOK: ctx.stage },
    });
    if (r.exitCode !== 0) {
      const E = ctx.stage === "preDeploy" ? PreDeployHookError : PostDeployHookError;
      throw new E(`${ctx.stage} hook \`${hook.command.join(" ")}\` failed (${failureText(r, hook.timeoutMs)})`);
    }
  }
}
