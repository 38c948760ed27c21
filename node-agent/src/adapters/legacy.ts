/**
 * Legacy (non-NixOS) hosts (docs/agent.md, "Activation"): the fleet flake's own app
 * (`build-legacy` by default) stops the service, builds, writes the systemd
 * --user unit and restarts it. The agent runs
 *
 *   <runAs user> sh -c '<load env>; exec "$@"' - nix run <ref>#<app>
 *
 * in the project directory, where <load env> is the env loader below: the first
 * existing file of envFiles (.env.production over .env.local) is sourced with
 * `set -a`. Rollback re-runs the *previous good revision's* app.
 *
 * "Build" evaluates the app (`nix eval --raw <ref>#apps.<system>.<app>.program`),
 * which catches evaluation errors before anything is stopped; the generation
 * is that program's store path. The app builds its own closure when run.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import type { HostSpec, LegacyHostSpec } from "../../../common/src/fleet/model.js";
import { BuildError, LegacyAppError, NoPreviousGenerationError, RollbackLegacyAppError } from "../errors.js";
import type { Previous } from "../loop/phases.js";
import type { ActivateRequest, Applied, BuildRequest, System } from "../ports.js";
import { failureText, type Runner } from "./exec.js";
import { registerSecretValue } from "./redact.js";

export interface LegacySystemOptions {
  run: Runner;
  nix: string;
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

/** argv of one legacy app run (pure; tested as such). */
export function legacyAppArgv(o: { runAs: string[]; nix: string }, host: LegacyHostSpec, flakeRef: string): string[] {
  const prefix = o.runAs.map((a) => a.replaceAll("{user}", host.user));
  return [...prefix, "sh", "-c", LOAD_ENV_SCRIPT, "flotilla-load-env", host.projectDir, String(host.envFiles.length), ...host.envFiles, o.nix, "run", "--no-eval-cache", `${flakeRef}#${host.app}`];
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

  async build(req: BuildRequest, signal?: AbortSignal): Promise<string> {
    const host = legacy(req.host);
    const attr = `${req.flakeRef}#apps.${await this.currentSystem()}.${host.app}.program`;
    const r = await this.o.run(this.o.nix, ["eval", "--no-eval-cache", "--raw", attr], { timeoutMs: this.o.buildTimeoutMs, signal });
    if (r.exitCode !== 0) throw new BuildError(`nix eval ${attr} failed (${failureText(r, this.o.buildTimeoutMs)})`);
    return r.stdout.trim();
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

  private async runApp(host: LegacyHostSpec, rev: string, flakeRef: string, generation: string | null): Promise<ReturnType<Runner>> {
    if (!existsSync(host.projectDir)) {
      return Promise.resolve({ exitCode: 70, stdout: "", stderr: `project directory ${host.projectDir} does not exist`, ms: 0, timedOut: false });
    }
    await registerEnvValues(host);
    const app = legacyAppArgv(this.o, host, flakeRef);
    const record = this.record(host);
    const [cmd, ...args] = record && generation ? recordedArgv(record, rev, generation, app) : app;
    return this.o.run(cmd!, args, {
      cwd: host.projectDir,
      timeoutMs: this.o.activateTimeoutMs + this.o.buildTimeoutMs,
      env: { FLOTILLA_HOST: host.name, FLOTILLA_REV: rev },
      label: `${this.o.runAs.length ? this.o.runAs.join(" ").replaceAll("{user}", host.user) + " " : ""}[load ${host.envFiles.join(" > ")}] nix run ${flakeRef}#${host.app}`,
    });
  }

  async activate(req: ActivateRequest): Promise<void> {
    const host = legacy(req.host);
    const r = await this.runApp(host, req.rev, req.flakeRef, req.generation);
    if (r.exitCode !== 0) throw new LegacyAppError(`legacy app ${host.app} at ${req.rev.slice(0, 12)} failed (${failureText(r)})`);
  }

  async rollback(hostSpec: HostSpec, previous: Previous, flakeRef: string | null): Promise<void> {
    const host = legacy(hostSpec);
    if (!previous.rev || !flakeRef) throw new NoPreviousGenerationError("no previous good revision is recorded for this legacy host");
    const r = await this.runApp(host, previous.rev, flakeRef, previous.generation);
    if (r.exitCode !== 0) throw new RollbackLegacyAppError(`re-running ${host.app} of the previous revision ${previous.rev.slice(0, 12)} failed (${failureText(r)})`);
  }

  async prune(): Promise<void> {}
}
