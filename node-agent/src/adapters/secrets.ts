/**
 * Secrets port adapter used until the secrets module's install API is wired:
 * it refuses (loudly, as SecretsFailed) to deploy a revision whose fleet file
 * declares secrets for this host, rather than silently skipping them.
 */
import { SecretsError } from "../errors.js";
import type { Secrets, SecretsContext } from "../ports.js";

export class NoSecrets implements Secrets {
  async install(ctx: SecretsContext): Promise<string | null> {
    const mine = ctx.fleet.secrets.filter((s) => s.hosts.includes(ctx.host.name));
    if (mine.length > 0) {
      throw new SecretsError(
        `fleet.yaml declares ${mine.length} secret(s) for host ${ctx.host.name} (${mine.map((s) => s.name).join(", ")}) but this agent has no secrets installer wired; refusing to deploy without them`,
      );
    }
    return null;
  }

  async rollback(): Promise<void> {}

  async prune(): Promise<void> {}
}
