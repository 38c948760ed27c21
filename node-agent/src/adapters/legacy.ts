/**
 * Legacy (non-NixOS) hosts (docs/agent.md, "Activation"): the fleet flake's own app
 * (`build-legacy` by default) stops the service, builds, writes the systemd
 * --user unit and restarts it.
 *
 * "Build" resolves the app once, before anything is stopped, as `nix run`
 * would: one evaluation of `<ref>#apps.<system>.<app>` (its type must be
 * "app"; an evaluation error is caught here, while the old app still runs)
 * that yields the program path and the derivations its string context names,
 * then `nix-store --realise <drv>!<output>…` of those (no evaluation). The
 * generation is the program's store path, built and ready.
 *
 * Activation runs that program directly (no second evaluation):
 *
 *   <runAs user> sh -c '<load env>; exec "$@"' - <program>
 *
 * in the project directory, where <load env> is the env loader below: the first
 * existing file of envFiles (.env.production over .env.local) is sourced with
 * `set -a`. Rollback re-runs the *previous good revision's* program, built
 * again from that revision's flake reference when the garbage collector took it.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import type { HostSpec, LegacyHostSpec } from "../../../common/src/fleet/model.js";
import { BuildError, LegacyAppError, NoPreviousGenerationError, RollbackLegacyAppError } from "../errors.js";
import type { Previous } from "../loop/phases.js";
import type { ActivateRequest, Applied, BuildRequest, System } from "../ports.js";
import { failureText, type Runner } from "./exec.js";
import { redact, registerSecretValue } from "./redact.js";

export interface LegacySystemOptions {
  run: Runner;
  nix: string;
  /** nix-store, which realises the app's derivations without evaluating again. */
  nixStore: string;
  /** argv prefix to become the deploy user; "{user}" is replaced. [] runs as the agent itself. */
  runAs: string[];
  buildTimeoutMs: number;
  activateTimeoutMs: number;
  /**
   * Where each app run that exited 0 records "<rev> <generation>" (one file
   * per host, legacyProfileDir of the agent config). Written by the shell
   * that runs the app, so it is written even when the agent died meanwhile.
   */
  recordDir?: string;
}

/** The legacy env loader: the first existing file of the list is sourced with `set -a`. */
export const LOAD_ENV_SCRIPT = [
  'cd "$1" || exit 70; shift',
  'n="$1"; shift; loaded=""',
  'while [ "$n" -gt 0 ]; do',
  '  f="$1"; shift; n=$((n - 1))',
  '  case "$f" in /*) p="$f" ;; *) p="./$f" ;; esac',
  '  if [ -z "$loaded" ] && [ -f "$p" ]; then set -a; . "$p"; set +a; loaded=1; fi',
  "done",
  'exec "$@"',
].join("\n");

/** argv of one legacy app run: the built program, through the env loader (pure; tested as such). */
export function legacyAppArgv(o: { runAs: string[] }, host: LegacyHostSpec, program: string): string[] {
  const prefix = o.runAs.map((a) => a.replaceAll("{user}", host.user));
  return [...prefix, "sh", "-c", LOAD_ENV_SCRIPT, "flotilla-load-env", host.projectDir, String(host.envFiles.length), ...host.envFiles, program];
}

/**
 * What the one evaluation of the app returns: its type, its program (context
 * discarded, so it prints) and the program's string context (the store
 * derivations and paths `nix run` would realise before running it).
 */
export const APP_APPLY = "a: { type = a.type or null; program = builtins.unsafeDiscardStringContext a.program; context = builtins.getContext a.program; }";

/** `nix eval` of the app (pure; tested as such). */
export function appEvalArgs(flakeRef: string, system: string, app: string): string[] {
  return ["eval", "--no-eval-cache", "--json", `${flakeRef}#apps.${system}.${app}`, "--apply", APP_APPLY];
}

/** builtins.getContext of one string: per store path, what of it the string refers to. */
export type StringContext = Record<string, { path?: boolean; allOutputs?: boolean; outputs?: string[] }>;

/**
 * The `nix-store --realise` arguments that build what a program's context
 * names, as `nix run` does (pure; tested as such): `<drv>!<output>` per
 * output, the bare `<drv>` (all outputs) for a reference to every output.
 * Plain paths (`path = true`: sources, or a .drv file itself) are in the
 * store once evaluated and are not built.
 */
export function realiseArgs(context: StringContext): string[] {
  const args: string[] = [];
  for (const [path, c] of Object.entries(context)) {
    if (c.allOutputs) args.push(path);
    else for (const out of c.outputs ?? []) args.push(`${path}!${out}`);
  }
  return args;
}

/**
 * Runs "$@" (the app, signals forwarded) and, when it exits 0, writes "$2"
 * to the record file "$1" atomically. A child of the agent, so a completed
 * app run is recorded even when the agent was killed while it ran.
 */
export const RECORD_SCRIPT = [
  'rec="$1"; line="$2"; shift 2',
  '"$@" & child=$!',
  'trap \'kill -TERM "$child" 2>/dev/null\' TERM INT HUP',
  'while :; do wait "$child"; st=$?; kill -0 "$child" 2>/dev/null || break; done',
  '[ "$st" -eq 0 ] || exit "$st"',
  'mkdir -p "$(dirname "$rec")" && printf \'%s\\n\' "$line" >"$rec.tmp" && mv -f "$rec.tmp" "$rec" || echo "flotilla: could not record the deploy in $rec" >&2',
].join("\n");

/** `argv` run under RECORD_SCRIPT (pure; tested as such). */
export function recordedArgv(record: string, rev: string, generation: string, argv: string[]): string[] {
  return ["sh", "-c", RECORD_SCRIPT, "flotilla-record", record, `${rev} ${generation}`, ...argv];
}

function legacy(host: HostSpec): LegacyHostSpec {
  if (host.kind !== "legacy") throw new Error(`host ${host.name} is not a legacy host`);
  return host;
}

/** Registers the env files' values for redaction: they are the legacy host's secrets. */
export async function registerEnvValues(host: LegacyHostSpec): Promise<void> {
  for (const f of host.envFiles) {
    const p = isAbsolute(f) ? f : join(host.projectDir, f);
    if (!existsSync(p)) continue;
    const text = await readFile(p, "utf8").catch(() => "");
    for (const line of text.split("\n")) {
      const m = /^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_]*=(.*)$/.exec(line);
      if (m?.[1]) registerSecretValue(m[1].replace(/^(['"])(.*)\1$/, "$2"));
    }
    return;
  }
}

export class LegacySystem implements System {
  private system: string | null = null;

  constructor(private readonly o: LegacySystemOptions) {}

  private async currentSystem(): Promise<string> {
    if (this.system) return this.system;
    const r = await this.o.run(this.o.nix, ["eval", "--impure", "--raw", "--expr", "builtins.currentSystem"], { timeoutMs: 60_000 });
    if (r.exitCode !== 0) throw new BuildError(`cannot ask nix for the current system (${failureText(r)})`);
    this.system = r.stdout.trim();
    return this.system;
  }

  /**
   * Resolves and builds the app of `flakeRef`: its program's store path, ready
   * to run. Changes nothing on the host. Throws BuildError.
   */
  private async realise(host: LegacyHostSpec, flakeRef: string, signal?: AbortSignal): Promise<string> {
    const t0 = Date.now();
    const left = () => Math.max(1, this.o.buildTimeoutMs - (Date.now() - t0));
    const args = appEvalArgs(flakeRef, await this.currentSystem(), host.app);
    const attr = args[3]!;
    const r = await this.o.run(this.o.nix, args, { timeoutMs: left(), signal, label: `nix eval --json ${attr} --apply <program and its context>` });
    if (r.exitCode !== 0) throw new BuildError(`nix eval ${attr} failed (${failureText(r, this.o.buildTimeoutMs)})`);
    let app: { type?: unknown; program?: unknown; context?: StringContext };
    try {
      app = JSON.parse(r.stdout) as typeof app;
    } catch (cause) {
      throw new BuildError(`nix eval ${attr} printed no JSON: ${redact(r.stdout.slice(0, 500))}`, { cause });
    }
    if (app.type !== "app") throw new BuildError(`${attr} has type ${JSON.stringify(app.type)}, not "app" (what \`nix run\` needs)`);
    const program = app.program;
    if (typeof program !== "string" || !isAbsolute(program)) throw new BuildError(`${attr}.program is not an absolute store path: ${JSON.stringify(program)}`);
    const targets = realiseArgs(app.context ?? {});
    if (targets.length) {
      const b = await this.o.run(this.o.nixStore, ["--realise", ...targets], { timeoutMs: left(), signal });
      if (b.exitCode !== 0) throw new BuildError(`building ${attr} (nix-store --realise ${targets.join(" ")}) failed (${failureText(b, this.o.buildTimeoutMs)})`);
    }
    if (!existsSync(program)) throw new BuildError(`the program of ${attr}, ${program}, does not exist after building it`);
    return program;
  }

  async build(req: BuildRequest, signal?: AbortSignal): Promise<string> {
    return this.realise(legacy(req.host), req.flakeRef, signal);
  }

  async current(): Promise<string | null> {
    return null;
  }

  private record(host: HostSpec): string | null {
    return this.o.recordDir ? join(this.o.recordDir, `${host.name}.deployed`) : null;
  }

  /** The last app run that exited 0, as its shell recorded it. */
  async applied(host: HostSpec): Promise<Applied | null> {
    const file = this.record(host);
    if (!file || !existsSync(file)) return null;
    const m = /^([0-9a-f]{7,64}) (\S+)\s*$/.exec(await readFile(file, "utf8"));
    return m ? { rev: m[1]!, generation: m[2]!, complete: true } : null;
  }

  private async runApp(host: LegacyHostSpec, rev: string, program: string, generation: string | null): Promise<ReturnType<Runner>> {
    if (!existsSync(host.projectDir)) {
      return Promise.resolve({ exitCode: 70, stdout: "", stderr: `project directory ${host.projectDir} does not exist`, ms: 0, timedOut: false });
    }
    await registerEnvValues(host);
    const app = legacyAppArgv(this.o, host, program);
    const record = this.record(host);
    const [cmd, ...args] = record && generation ? recordedArgv(record, rev, generation, app) : app;
    return this.o.run(cmd!, args, {
      cwd: host.projectDir,
      // The app may build more itself (a package it roots, a second flake).
      timeoutMs: this.o.activateTimeoutMs + this.o.buildTimeoutMs,
      env: { FLOTILLA_HOST: host.name, FLOTILLA_REV: rev },
      label: `${this.o.runAs.length ? this.o.runAs.join(" ").replaceAll("{user}", host.user) + " " : ""}[load ${host.envFiles.join(" > ")}] ${program} (${host.app} of ${rev.slice(0, 12)})`,
    });
  }

  /**
   * The program to run for `generation`: itself when it is still in the store
   * (the build step made it), else built again from `flakeRef` (the garbage
   * collector took it meanwhile). When it cannot be built, `why` says why.
   */
  private async program(host: LegacyHostSpec, generation: string, flakeRef: string | null): Promise<{ program: string } | { why: string }> {
    if (existsSync(generation)) return { program: generation };
    if (!flakeRef) return { why: `${generation} is no longer in the store and no flake reference is recorded to build it again` };
    try {
      return { program: await this.realise(host, flakeRef) };
    } catch (e) {
      return { why: `${generation} is no longer in the store and building it again failed: ${(e as Error).message}` };
    }
  }

  async activate(req: ActivateRequest): Promise<void> {
    const host = legacy(req.host);
    const p = await this.program(host, req.generation, req.flakeRef);
    // Nothing was stopped yet: the app did not run.
    if ("why" in p) throw new LegacyAppError(`legacy app ${host.app} at ${req.rev.slice(0, 12)} cannot run: ${p.why}`, { unchanged: true });
    const r = await this.runApp(host, req.rev, p.program, req.generation);
    if (r.exitCode !== 0) throw new LegacyAppError(`legacy app ${host.app} at ${req.rev.slice(0, 12)} failed (${failureText(r)})`);
  }

  async rollback(hostSpec: HostSpec, previous: Previous, flakeRef: string | null): Promise<void> {
    const host = legacy(hostSpec);
    if (!previous.rev) throw new NoPreviousGenerationError("no previous good revision is recorded for this legacy host");
    const p = await this.program(host, previous.generation, flakeRef);
    if ("why" in p) throw new RollbackLegacyAppError(`re-running ${host.app} of the previous revision ${previous.rev.slice(0, 12)} is not possible: ${p.why}`);
    const r = await this.runApp(host, previous.rev, p.program, previous.generation);
    if (r.exitCode !== 0) throw new RollbackLegacyAppError(`re-running ${host.app} of the previous revision ${previous.rev.slice(0, 12)} failed (${failureText(r)})`);
  }

  async prune(): Promise<void> {}
}
