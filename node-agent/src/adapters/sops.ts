/**
 * The Secrets port on the secrets module's installer (secrets/src/install,
 * SopsSecrets): decrypt the host's declared secrets at the target revision
 * with the host key, write a new generation under secretsRoot and switch
 * `current` before the system switch; switch back on rollback. Errors become
 * SecretsError (SecretsFailed); their messages name files and keys, never values.
 *
 * The secrets module (age, sops formats, X25519) is imported only when the
 * host has secrets: declared in the fleet at the revision, or a secrets root
 * left by earlier deploys (which then may need switching back or removing).
 * Hosts without secrets never load it (~7 MB of an idle daemon's memory).
 */
import { existsSync } from "node:fs";
import { userInfo } from "node:os";
import type { SopsSecrets } from "../../../secrets/src/install/agent.js";
import type { Logger } from "../../../common/src/log.js";
import { SecretsError } from "../errors.js";
import type { Secrets, SecretsContext } from "../ports.js";
import { failureText, type Runner } from "./exec.js";
import { absentUnits, restartInvocations } from "./systemd-scope.js";

export interface SopsAdapterOptions {
  root: string;
  hostKeyPath: string;
  readFile(rev: string, file: string): Promise<Uint8Array | null>;
  run: Runner;
  systemctl: string;
  log: Logger;
}

export class SopsSecretsAdapter implements Secrets {
  private inner: SopsSecrets | null = null;
  /** The context of the install/rollback in progress: which host, which secrets name which units. */
  private ctx: SecretsContext | null = null;

  constructor(private readonly o: SopsAdapterOptions) {}

  /** True when there is nothing to do: no secrets for this host at ctx.rev and none installed before. */
  private none(ctx: SecretsContext | null): boolean {
    return !(ctx?.fleet.secrets.some((s) => s.hosts.includes(ctx.host.name)) ?? false) && !existsSync(this.o.root);
  }

  private async load(): Promise<SopsSecrets> {
    if (this.inner) return this.inner;
    const { SopsSecrets } = await import("../../../secrets/src/install/agent.js");
    const o = this.o;
    this.inner = new SopsSecrets({
      root: o.root,
      hostKeyPath: o.hostKeyPath,
      readFile: o.readFile,
      chown: process.getuid?.() === 0,
      // In the manager the units live in: the deploy user's on legacy hosts,
      // the system's on NixOS hosts, or what the fleet's restartUnitsScope says.
      restartUnits: async (units) => {
        const ctx = this.ctx;
        const calls = ctx ? restartInvocations(units, ctx.fleet.secrets, ctx.host, { uid: process.getuid?.() ?? -1, user: userInfo().username }) : [["restart", ...units]];
        for (const call of calls) {
          // Units the manager does not have yet (the switch after the secrets installs them) start with the new secret: skip them.
          const verb = call.indexOf("restart");
          const scope = call.slice(0, verb);
          const named = call.slice(verb + 1);
          const shown = await o.run(o.systemctl, [...scope, "show", "--property=LoadState", ...named], { timeoutMs: 30_000 });
          const absent = shown.exitCode === 0 ? absentUnits(named, shown.stdout) : [];
          if (absent.length) o.log.info("not restarting units the manager does not have (yet); they start with the new secrets", { units: absent.join(","), scope: scope.includes("--user") ? "user" : "system" });
          const todo = named.filter((u) => !absent.includes(u));
          if (!todo.length) continue;
          const args = [...scope, "restart", ...todo];
          const r = await o.run(o.systemctl, args, { timeoutMs: 120_000 });
          if (r.exitCode !== 0) throw new SecretsError(`systemctl ${args.join(" ")} after a secrets change failed (${failureText(r)})`);
        }
      },
      log: { info: (msg, fields) => o.log.info(msg, Object.fromEntries(Object.entries(fields ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : String(v)]))) },
    });
    return this.inner;
  }

  private async wrap<T>(what: string, f: () => Promise<T>, ctx: SecretsContext | null = null): Promise<T> {
    this.ctx = ctx;
    try {
      return await f();
    } catch (e) {
      if (e instanceof SecretsError) throw e;
      throw new SecretsError(`${what}: ${(e as Error).message}`, { cause: e });
    }
  }

  async install(ctx: SecretsContext): Promise<string | null> {
    if (this.none(ctx)) return null;
    const { currentSecretsGeneration } = await import("../../../secrets/src/install/activate.js");
    const before = await currentSecretsGeneration(this.o.root).catch(() => undefined);
    try {
      return await this.wrap(`installing secrets for ${ctx.rev.slice(0, 12)} failed`, async () => (await this.load()).install(ctx), ctx);
    } catch (e) {
      // Failed before its generation was switched (a secret not encrypted to this host,
      // a missing key): nothing on the host changed, so there is nothing to roll back.
      const after = await currentSecretsGeneration(this.o.root).catch(() => null);
      if (after === before) throw new SecretsError((e as Error).message, { cause: (e as Error).cause ?? e, unchanged: true });
      throw e;
    }
  }

  async rollback(ctx: SecretsContext): Promise<void> {
    if (this.none(ctx)) return;
    return this.wrap(`switching secrets back to ${ctx.rev.slice(0, 12)} failed`, async () => (await this.load()).rollback(ctx), ctx);
  }

  async prune(keep: number): Promise<void> {
    if (this.none(null)) return;
    return this.wrap("pruning secrets generations failed", async () => (await this.load()).prune(keep));
  }
}
