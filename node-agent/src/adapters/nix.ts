/**
 * NixOS hosts: build the toplevel, activate, roll back to a recorded path.
 *
 * activation "direct" (as comin and deploy-rs do):
 *   nix build --no-eval-cache --no-link --json <ref>#<attribute>.config.system.build.toplevel
 *   nix-env -p <profile> --set <out>            (not for operation "test")
 *   <out>/bin/switch-to-configuration <operation>
 * activation "nixos-rebuild":
 *   nixos-rebuild <operation> --flake <ref>#<name>  (after our own build, so
 *   it only re-evaluates; the profile is then checked against our out path)
 * rollback (both modes): nix-env -p <profile> --set <previous>, then
 *   <previous>/bin/switch-to-configuration <operation>. Never `--rollback`,
 *   which points at whatever generation is older, not at what ran before.
 */
import { existsSync } from "node:fs";
import { mkdir, realpath } from "node:fs/promises";
import { dirname } from "node:path";
import type { HostSpec, NixosHostSpec } from "../../../common/src/fleet/model.js";
import type { Logger } from "../../../common/src/log.js";
import { BuildError, RollbackSetProfileError, RollbackSwitchError, SetProfileError, SwitchError } from "../errors.js";
import type { Previous } from "../loop/phases.js";
import type { ActivateRequest, Applied, BuildRequest, System } from "../ports.js";
import { redact } from "./redact.js";
import { failureText, type Runner } from "./exec.js";

export interface NixosSystemOptions {
  run: Runner;
  log: Logger;
  nix: string;
  nixEnv: string;
  nixosRebuild: string;
  profile: string;
  /** /run/booted-system: what the host booted. */
  bootedSystem: string;
  /** /run/current-system: what runs now (differs from the profile after `operation: test`). */
  currentSystem: string;
  activation: "nixos-rebuild" | "direct";
  buildTimeoutMs: number;
  activateTimeoutMs: number;
}

/** `nixos-rebuild <op> --flake <ref>#<name>` (pure; tested as such). */
export function nixosRebuildArgs(operation: string, flakeRef: string, attribute: string): string[] {
  const m = /^nixosConfigurations\.(.+)$/.exec(attribute);
  if (!m) throw new SwitchError(`activation "nixos-rebuild" needs an attribute under nixosConfigurations, not "${attribute}"; use activation "direct"`);
  return [operation, "--flake", `${flakeRef}#${m[1]}`];
}

export function toplevelInstallable(flakeRef: string, attribute: string): string {
  return `${flakeRef}#${attribute}.config.system.build.toplevel`;
}

/** The links of a NixOS toplevel whose change only takes effect after a reboot. */
export const REBOOT_LINKS = ["kernel", "initrd", "kernel-modules"] as const;

async function resolve(path: string): Promise<string | null> {
  if (!existsSync(path)) return null;
  return realpath(path).catch(() => null);
}

function nixos(host: HostSpec): NixosHostSpec {
  if (host.kind !== "nixos") throw new Error(`host ${host.name} is not a NixOS host`);
  return host;
}

export class NixosSystem implements System {
  constructor(private readonly o: NixosSystemOptions) {}

  async build(req: BuildRequest, signal?: AbortSignal): Promise<string> {
    const host = nixos(req.host);
    const installable = toplevelInstallable(req.flakeRef, host.attribute);
    // --no-eval-cache: every target is a new revision, so the cache never
    // helps, and its SQLite file is shared with every other nix process on
    // the host; contention there ("database is busy") made Nix 2.8 report
    // attributes as missing, failing a good revision.
    const r = await this.o.run(this.o.nix, ["build", "--no-eval-cache", "--no-link", "--json", installable], { timeoutMs: this.o.buildTimeoutMs, signal });
    if (r.exitCode !== 0) throw new BuildError(`nix build ${installable} failed (${failureText(r, this.o.buildTimeoutMs)})`);
    let out: string | undefined;
    try {
      out = (JSON.parse(r.stdout) as Array<{ outputs: Record<string, string> }>)[0]?.outputs.out;
    } catch {
      out = undefined;
    }
    if (!out) throw new BuildError(`nix build ${installable} printed no out path: ${redact(r.stdout.slice(0, 500))}`);
    return out;
  }

  /**
   * The generation active now. For `operation: test` that is what runs
   * (/run/current-system), not the profile, which a test activation never
   * moves: a failed test deploy must return to the generation that was running.
   */
  async current(host: HostSpec): Promise<string | null> {
    if (host.kind === "nixos" && host.operation === "test") {
      const running = await resolve(this.o.currentSystem);
      if (running) return running;
    }
    return resolve(this.o.profile);
  }

  /**
   * After a restart in `activating`: /run/current-system, which the
   * activation script points at the new generation before the rest of the
   * switch runs, so a match means the switch got at least that far (never
   * that it completed). `operation: boot` changes nothing that runs: unknown.
   */
  async applied(host: HostSpec): Promise<Applied | null> {
    if (nixos(host).operation === "boot") return null;
    const running = await resolve(this.o.currentSystem);
    return running ? { rev: null, generation: running, complete: false } : null;
  }

  async booted(): Promise<string | null> {
    return resolve(this.o.bootedSystem);
  }

  /**
   * As NixOS's own check (and comin's) does: a generation needs a reboot when
   * its kernel, initrd or kernel modules are not the booted system's.
   */
  async needsReboot(generation: string): Promise<boolean | null> {
    const booted = await this.booted();
    if (!booted) return null;
    for (const link of REBOOT_LINKS) {
      const [a, b] = await Promise.all([resolve(`${booted}/${link}`), resolve(`${generation}/${link}`)]);
      if (a !== b) return true;
    }
    return false;
  }

  private async setProfile(path: string, E: typeof SetProfileError | typeof RollbackSetProfileError): Promise<void> {
    // nix-env does not create the profile's directory (a host's first deploy to a custom profile path).
    try {
      await mkdir(dirname(this.o.profile), { recursive: true });
    } catch (cause) {
      throw new E(`cannot create the profile directory ${dirname(this.o.profile)}: ${(cause as Error).message}`, { cause, unchanged: true });
    }
    const r = await this.o.run(this.o.nixEnv, ["-p", this.o.profile, "--set", path], { timeoutMs: this.o.activateTimeoutMs });
    // nix-env switches the profile link atomically: when it fails, the profile is as it was.
    if (r.exitCode !== 0) throw new E(`nix-env -p ${this.o.profile} --set ${path} failed (${failureText(r, this.o.activateTimeoutMs)})`, { unchanged: true });
  }

  private async switchTo(path: string, op: string, E: typeof SwitchError | typeof RollbackSwitchError): Promise<void> {
    const bin = `${path}/bin/switch-to-configuration`;
    const r = await this.o.run(bin, [op], { timeoutMs: this.o.activateTimeoutMs });
    if (r.exitCode !== 0) throw new E(`${bin} ${op} failed (${failureText(r, this.o.activateTimeoutMs)})`);
  }

  async activate(req: ActivateRequest): Promise<void> {
    const host = nixos(req.host);
    if (this.o.activation === "nixos-rebuild") {
      const args = nixosRebuildArgs(host.operation, req.flakeRef, host.attribute);
      const r = await this.o.run(this.o.nixosRebuild, args, { timeoutMs: this.o.activateTimeoutMs + this.o.buildTimeoutMs });
      if (r.exitCode !== 0) throw new SwitchError(`nixos-rebuild ${args.join(" ")} failed (${failureText(r, this.o.activateTimeoutMs)})`);
      return;
    }
    if (host.operation !== "test") await this.setProfile(req.generation, SetProfileError);
    await this.switchTo(req.generation, host.operation, SwitchError);
  }

  async rollback(hostSpec: HostSpec, previous: Previous): Promise<void> {
    const host = nixos(hostSpec);
    if (!existsSync(`${previous.generation}/bin/switch-to-configuration`)) {
      throw new RollbackSwitchError(`the recorded previous generation ${previous.generation} is missing from the store (garbage-collected?)`);
    }
    if (host.operation !== "test") await this.setProfile(previous.generation, RollbackSetProfileError);
    await this.switchTo(previous.generation, host.operation, RollbackSwitchError);
  }

  async prune(_host: HostSpec, keep: number, protect: string[]): Promise<void> {
    const r = await this.o.run(this.o.nixEnv, ["-p", this.o.profile, "--list-generations"], { timeoutMs: 60_000 });
    if (r.exitCode !== 0) return;
    const ids = r.stdout
      .split("\n")
      .map((l) => /^\s*(\d+)\s/.exec(l)?.[1])
      .filter((x): x is string => !!x)
      .map(Number)
      .sort((a, b) => a - b);
    const candidates = ids.slice(0, Math.max(0, ids.length - keep));
    const doomed: number[] = [];
    for (const id of candidates) {
      const target = await realpath(`${this.o.profile}-${id}-link`).catch(() => null);
      if (target && protect.includes(target)) continue;
      doomed.push(id);
    }
    if (doomed.length === 0) return;
    const d = await this.o.run(this.o.nixEnv, ["-p", this.o.profile, "--delete-generations", ...doomed.map(String)], { timeoutMs: 120_000 });
    if (d.exitCode !== 0) this.o.log.warn("deleting old generations failed", { detail: failureText(d) });
    else this.o.log.info("pruned old generations", { deleted: doomed.join(","), keep });
  }
}
