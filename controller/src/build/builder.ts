/**
 * Build once: evaluate and build every host's system at one fleet revision
 * with the real nix CLI, sign the closures with a Nix signing key, copy them
 * to binary caches, and describe the result as a release manifest (signed
 * and published by the caller, commands/build.ts).
 *
 *   NixOS:  nix build --no-link --json <flake>#<attribute>.config.system.build.toplevel
 *   legacy: nix eval --json <flake>#apps.<system>.<app>.program (+ its string context),
 *           nix-store --realise <the derivations it refers to>
 *   then:   nix path-info --json -S <out>              (closure size = sum of narSize)
 *           nix store sign --key-file <key> --recursive <out>
 *           nix copy --to <cache> <out>                 (each cache)
 *
 * All or nothing: when one host fails, the error names it and nothing is
 * published, so an agent never sees a manifest that leaves it out by accident.
 */
import { execa } from "execa";
import type { Fleet, HostSpec } from "../../../common/src/fleet/model.js";
import type { ReleaseHost } from "../../../schemas/src/release.js";

export class BuildStepError extends Error {
  override name = "BuildStepError";
}

export interface NixRun {
  (args: string[], o?: { cmd?: string; timeoutMs?: number }): Promise<string>;
}

export class BuildCancelledError extends Error {
  override name = "BuildCancelledError";
}

/**
 * Runs nix (or `o.cmd`) with `env`; throws BuildStepError with the command and
 * the tail of stderr. With `signal`, each command runs in its own process group
 * (detached), and an abort kills that whole group (SIGTERM, SIGKILL after
 * `killGraceMs`): nix and whatever it started; the call then throws
 * BuildCancelledError, and no later command starts.
 */
export function nixRunner(env: Record<string, string | undefined>, nix = "nix", opts: { signal?: AbortSignal; killGraceMs?: number } = {}): NixRun {
  const { signal } = opts;
  return async (args, o = {}) => {
    const cmd = o.cmd ?? nix;
    if (signal?.aborted) throw new BuildCancelledError(`cancelled before ${cmd} ${args[0] ?? ""}`);
    const child = execa(cmd, args, { env, extendEnv: false, reject: false, stdin: "ignore", timeout: o.timeoutMs ?? 3_600_000, maxBuffer: 256 * 1024 * 1024, detached: !!signal });
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      const kill = (sig: NodeJS.Signals) => {
        try {
          if (child.pid) process.kill(-child.pid, sig);
        } catch {
          // the group is gone already
        }
      };
      kill("SIGTERM");
      killTimer = setTimeout(() => kill("SIGKILL"), opts.killGraceMs ?? 5_000);
      killTimer.unref();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    let r;
    try {
      r = await child;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
    if (signal?.aborted) {
      // Make sure nothing of the group outlives the cancelled command.
      try {
        if (child.pid) process.kill(-child.pid, "SIGKILL");
      } catch {
        // gone
      }
      if (killTimer) clearTimeout(killTimer);
      throw new BuildCancelledError(`cancelled during ${cmd} ${args.slice(0, 2).join(" ")}`);
    }
    if (r.exitCode !== 0) {
      const tail = String(r.stderr ?? "").trim().split("\n").slice(-12).join("\n");
      throw new BuildStepError(`${cmd} ${args.join(" ")} failed (${r.timedOut ? "timed out" : `exit ${r.exitCode}`})${tail ? `:\n${tail}` : ""}`);
    }
    return String(r.stdout ?? "");
  };
}

/** The store path a path inside the store belongs to (/nix/store/<hash>-<name>). */
export function storePathOf(p: string): string {
  const m = /^(\/nix\/store\/[^/]+)/.exec(p);
  if (!m) throw new BuildStepError(`"${p}" is not inside /nix/store`);
  return m[1]!;
}

export interface BuildHostResult extends ReleaseHost {
  host: string;
  ms: number;
}

export interface BuilderOptions {
  nix: NixRun;
  /** A flake reference of the fleet repo at the revision (git+file://…?rev=…). */
  flakeRef: string;
  signingKeyFile: string;
  caches: string[];
  /** Called before and after each host (progress output). */
  progress?: (e: { host: string; index: number; total: number; stage: "build" | "sign" | "copy" | "done"; detail?: string }) => void;
}

async function currentSystem(nix: NixRun): Promise<string> {
  return (await nix(["eval", "--impure", "--raw", "--expr", "builtins.currentSystem"])).trim();
}

async function buildNixos(o: Pick<BuilderOptions, "nix" | "flakeRef">, host: Extract<HostSpec, { kind: "nixos" }>): Promise<{ outPath: string; generation: string; attribute: string }> {
  const attribute = `${host.attribute}.config.system.build.toplevel`;
  const stdout = await o.nix(["build", "--no-link", "--json", `${o.flakeRef}#${attribute}`]);
  const out = (JSON.parse(stdout) as Array<{ outputs: Record<string, string> }>)[0]?.outputs.out;
  if (!out) throw new BuildStepError(`nix build ${attribute} printed no out path`);
  return { outPath: out, generation: out, attribute };
}

async function buildLegacy(o: Pick<BuilderOptions, "nix" | "flakeRef">, host: Extract<HostSpec, { kind: "legacy" }>, system: string): Promise<{ outPath: string; generation: string; attribute: string }> {
  const attribute = `apps.${system}.${host.app}.program`;
  const stdout = await o.nix(["eval", "--json", `${o.flakeRef}#${attribute}`, "--apply", "p: { program = p; drvs = builtins.attrNames (builtins.getContext p); }"]);
  const { program, drvs } = JSON.parse(stdout) as { program: string; drvs: string[] };
  if (drvs.length > 0) await o.nix(["--realise", ...drvs], { cmd: "nix-store" });
  return { outPath: storePathOf(program), generation: program, attribute };
}

/**
 * Evaluates and builds one host's system (no signing, no copying): the NixOS
 * toplevel, or the store path of a legacy host's app. `system` is asked of nix
 * once, for legacy hosts.
 */
export async function buildHostSystem(
  o: Pick<BuilderOptions, "nix" | "flakeRef">,
  host: HostSpec,
  system: () => Promise<string>,
): Promise<{ outPath: string; generation: string; attribute: string }> {
  try {
    if (host.kind === "nixos") return await buildNixos(o, host);
    return await buildLegacy(o, host, await system());
  } catch (e) {
    if (e instanceof BuildCancelledError) throw e;
    throw new BuildStepError(`host ${host.name}: ${(e as Error).message}`, { cause: e });
  }
}

/** Sum of the narSize of every path in the closure of `path` (nix path-info --closure-size). */
export async function closureSize(nix: NixRun, path: string): Promise<number> {
  const info = JSON.parse(await nix(["--extra-experimental-features", "nix-command", "path-info", "--json", "--closure-size", path])) as Array<{ closureSize?: number }>;
  return info[0]?.closureSize ?? 0;
}

/** Builds, signs and copies every host of `fleet`; returns one entry per host, in fleet order. */
export async function buildFleet(fleet: Fleet, o: BuilderOptions): Promise<BuildHostResult[]> {
  const out: BuildHostResult[] = [];
  const total = fleet.hosts.length;
  let system: Promise<string> | null = null;
  for (const [i, host] of fleet.hosts.entries()) {
    const t0 = Date.now();
    const index = i + 1;
    o.progress?.({ host: host.name, index, total, stage: "build" });
    const built = await buildHostSystem(o, host, () => (system ??= currentSystem(o.nix)));
    o.progress?.({ host: host.name, index, total, stage: "sign", detail: built.outPath });
    await o.nix(["store", "sign", "--key-file", o.signingKeyFile, "--recursive", built.outPath]);
    for (const cache of o.caches) {
      o.progress?.({ host: host.name, index, total, stage: "copy", detail: cache });
      await o.nix(["copy", "--to", cache, built.outPath]);
    }
    const size = await closureSize(o.nix, built.outPath);
    out.push({ host: host.name, kind: host.kind, ...built, closureSize: size, ms: Date.now() - t0 });
    o.progress?.({ host: host.name, index, total, stage: "done", detail: built.outPath });
  }
  return out;
}
