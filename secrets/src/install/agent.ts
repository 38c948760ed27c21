/**
 * @module secrets/install/agent
 * The agent's `Secrets` port (node-agent/src/ports.ts) implemented on the
 * install API, typed structurally so secrets/ does not import the agent:
 *   install(ctx)  → decrypt the host's declared secrets at ctx.rev, write a
 *                   new generation, switch `current`, restart affected units;
 *                   throws (SecretsError subclasses) before switching anything.
 *   rollback(ctx) → switch back to the generation installed for ctx.rev
 *                   (re-installing it if it was pruned or lost with the tmpfs).
 *   prune(keep)   → drop old generations.
 * Generation numbers per revision are kept in `<root>/.flotilla-revisions.json`
 * (revisions and numbers only, nothing secret).
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { loadHostIdentities } from "../identities/host.js";
import type { SopsFormat } from "../sops/load.js";
import { SopsFormatError } from "../errors.js";
import type { SecretDeclaration } from "./declaration.js";
import { prepareSecretsGeneration } from "./generation.js";
import { activateSecretsGeneration, currentSecretsGeneration, generationDir, listSecretsGenerations, pruneSecretsGenerations, rollbackSecrets } from "./activate.js";
import { readManifest } from "./manifest.js";
import type { SecretsPlan } from "./plan.js";

/** The fields of the fleet's normalised secret entries this adapter uses. */
export interface FleetSecretLike {
  name: string;
  sopsFile: string;
  key?: string | undefined;
  format?: SopsFormat | undefined;
  hosts: string[];
  path?: string | undefined;
  owner?: string | number | undefined;
  group?: string | number | undefined;
  mode?: string | number | undefined;
  restartUnits?: string[] | undefined;
}

export interface SecretsContextLike {
  fleet: { secrets: FleetSecretLike[] };
  host: { name: string };
  rev: string;
}

export interface SopsSecretsOptions {
  /** Default /run/flotilla/secrets.d. */
  root: string;
  /** The host's ed25519 SSH key (default in the agent: /etc/ssh/ssh_host_ed25519_key). */
  hostKeyPath: string;
  /** A file of the fleet repo at a revision (GitMirror.readFile); null when absent. */
  readFile(rev: string, file: string): Promise<Uint8Array | null>;
  /** Restart these units (the agent runs its configured systemctl). */
  restartUnits(units: string[]): Promise<void>;
  chown?: boolean;
  log?: { info(msg: string, fields?: Record<string, unknown>): void };
}

const REVISIONS = ".flotilla-revisions.json";

export class SopsSecrets {
  /** The plan of the last install/rollback (for reports): names and units only. */
  lastPlan: SecretsPlan | undefined;

  constructor(private readonly o: SopsSecretsOptions) {}

  private async revisions(): Promise<Record<string, number>> {
    try {
      return JSON.parse(await readFile(path.join(this.o.root, REVISIONS), "utf8")) as Record<string, number>;
    } catch {
      return {};
    }
  }

  private async record(rev: string, n: number): Promise<void> {
    const map = await this.revisions();
    map[rev] = n;
    const keep = new Set(await listSecretsGenerations(this.o.root));
    for (const [r, g] of Object.entries(map)) if (!keep.has(g)) delete map[r];
    const file = path.join(this.o.root, REVISIONS);
    await writeFile(`${file}.tmp`, JSON.stringify(map), { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }

  /** The declarations for this host at ctx.rev, with each sops file read at that revision. */
  async declarations(ctx: SecretsContextLike): Promise<SecretDeclaration[]> {
    const mine = ctx.fleet.secrets.filter((s) => s.hosts.includes(ctx.host.name));
    const cache = new Map<string, Uint8Array>();
    const out: SecretDeclaration[] = [];
    for (const s of mine) {
      let bytes = cache.get(s.sopsFile);
      if (!bytes) {
        const b = await this.o.readFile(ctx.rev, s.sopsFile);
        if (!b) throw new SopsFormatError(s.sopsFile, undefined, `missing at revision ${ctx.rev.slice(0, 12)}; expected the sops file fleet.yaml names for secret "${s.name}"`);
        cache.set(s.sopsFile, (bytes = b));
      }
      out.push({
        name: s.name,
        sopsFile: { bytes, path: s.sopsFile },
        format: s.format,
        key: s.key,
        path: s.path,
        owner: s.owner,
        group: s.group,
        mode: s.mode,
        restartUnits: s.restartUnits ?? [],
      });
    }
    return out;
  }

  async install(ctx: SecretsContextLike): Promise<string | null> {
    const decls = await this.declarations(ctx);
    const current = await currentSecretsGeneration(this.o.root);
    if (decls.length === 0 && current === undefined) return null;
    // Identities are loaded per install: a missing or replaced host key is reported now, not at boot.
    const identities = decls.length ? await loadHostIdentities(this.o.hostKeyPath) : [];
    const n = Math.max(0, ...(await listSecretsGenerations(this.o.root))) + 1;
    const plan = await prepareSecretsGeneration({ root: this.o.root, generation: n, secrets: decls, identities, chown: this.o.chown ?? false });
    await activateSecretsGeneration(this.o.root, n);
    await this.record(ctx.rev, n);
    this.lastPlan = plan;
    this.o.log?.info("secrets installed", { generation: n, added: plan.added, changed: plan.changed, removed: plan.removed, restart: plan.restartUnits });
    if (plan.restartUnits.length) await this.o.restartUnits(plan.restartUnits);
    return String(n);
  }

  async rollback(ctx: SecretsContextLike): Promise<void> {
    const n = (await this.revisions())[ctx.rev];
    if (n !== undefined && (await readManifest(generationDir(this.o.root, n)))) {
      if ((await currentSecretsGeneration(this.o.root)) === n) return;
      const plan = await rollbackSecrets(this.o.root, n);
      this.lastPlan = plan;
      this.o.log?.info("secrets rolled back", { generation: n, changed: plan.changed, restart: plan.restartUnits });
      if (plan.restartUnits.length) await this.o.restartUnits(plan.restartUnits);
      return;
    }
    await this.install(ctx);
  }

  async prune(keep: number): Promise<void> {
    await pruneSecretsGenerations(this.o.root, keep);
  }
}
