/**
 * Runs one external command with a timeout and logs it before and after,
 * with its duration and exit code (argv only: environment values, which may
 * hold secrets, are never logged). Output is kept for error messages, capped.
 *
 * execa is imported on the first command, not at start: builds, switches,
 * hooks and checks need it, an idle daemon polling git (common/src/git/run.ts)
 * does not, and its import graph is ~5 MB of the daemon's resident memory.
 */
import { redact } from "./redact.js";
import type { Logger } from "../../../common/src/log.js";

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Shown instead of the argv in logs (e.g. when an argument is long or sensitive). */
  label?: string;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export type Runner = (cmd: string, args: string[], opts: RunOptions) => Promise<RunResult>;

const cap = (s: string, n = 16_000) => (s.length > n ? `…${s.slice(-n)}` : s);

export function commandRunner(log: Logger, baseEnv: Record<string, string | undefined>): Runner {
  return async (cmd, args, opts) => {
    const shown = opts.label ?? [cmd, ...args].join(" ");
    log.debug("run", { cmd: shown, cwd: opts.cwd });
    const started = Date.now();
    const { execa } = await import("execa");
    const r = await execa(cmd, args, {
      cwd: opts.cwd,
      env: { ...baseEnv, ...opts.env },
      extendEnv: false,
      timeout: opts.timeoutMs,
      cancelSignal: opts.signal,
      reject: false,
      stdin: "ignore",
      maxBuffer: 64 * 1024 * 1024,
      forceKillAfterDelay: 5000,
    });
    const ms = Date.now() - started;
    const exitCode = r.exitCode ?? -1;
    log.info("ran", { cmd: shown, ms, exit: exitCode, timedOut: r.timedOut || undefined });
    return { exitCode, stdout: cap(String(r.stdout ?? "")), stderr: cap(String(r.stderr ?? "")), ms, timedOut: !!r.timedOut };
  };
}

/** "exit 4: <last lines of stderr>" for error messages. */
export function failureText(r: RunResult, timeoutMs?: number): string {
  const why = r.timedOut ? `timed out after ${timeoutMs ?? "?"} ms` : `exit ${r.exitCode}`;
  const tail = redact(r.stderr).trim().split("\n").slice(-15).join("\n");
  return tail ? `${why}: ${tail}` : why;
}
