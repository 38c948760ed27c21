/**
 * The Secrets port on the secrets module's installer (secrets/src/install,
 * SopsSecrets): decrypt the host's declared secrets at the target revision
 * with the host key, write a new generation under secretsRoot and switch
 * `current` before the system switch; switch back on rollback. Errors become
 * SecretsError (SecretsFailed); their messages name files and keys, never values.
 */
import { SopsSecrets } from "../../../secrets/src/install/agent.js";
import type { Logger } from "../../../common/src/log.js";
import { SecretsError } from "../errors.js";
import type { Secrets, SecretsContext } from "../ports.js";
import { failureText, type Runner } from "./exec.js";

export interface SopsAdapterOptions {
  root: string;
  hostKeyPath: string;
  readFile(rev: string, file: string): Promise<Uint8Array | null>;
  run: Runner;
  systemctl: string;
  log: Logger;
}

export class SopsSecretsAdapter implements Secrets {
  private readonly inner: SopsSecrets;

  constructor(o: SopsAdapterOptions) {
    this.inner = new SopsSecrets({
      root: o.root,
      hostKeyPath: o.hostKeyPath,
      readFile: o.readFile,
      chown: process.getuid?.() === 0,
      restartUnits: async (units) => {
        const r = await o.run(o.systemctl, ["restart", ...units], { timeoutMs: 120_000 });
        if (r.exitCode !== 0) throw new SecretsError(`restarting ${units.join(" ")} after a secrets change failed (${failureText(r)})`);
      },
      log: { info: (msg, fields) => o.log.info(msg, Object.fromEntries(Object.entries(fields ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : String(v)]))) },
    });
  }

  private async wrap<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof SecretsError) throw e;
      throw new SecretsError(`${what}: ${(e as Error).message}`, { cause: e });
    }
  }

  install(ctx: SecretsContext): Promise<string | null> {
    return this.wrap(`installing secrets for ${ctx.rev.slice(0, 12)} failed`, () => this.inner.install(ctx));
  }

  rollback(ctx: SecretsContext): Promise<void> {
    return this.wrap(`switching secrets back to ${ctx.rev.slice(0, 12)} failed`, () => this.inner.rollback(ctx));
  }

  prune(keep: number): Promise<void> {
    return this.wrap("pruning secrets generations failed", () => this.inner.prune(keep));
  }
}
