/**
 * Runs one external command with a timeout and logs it before and after,
 * with its duration and exit code (argv only: environment values, which may
 * hold secrets, are never logged). Output is kept for error messages, capped.
 *
 * Built on spawnCollect (common/src/git/run.ts), not execa: a command that
 * cannot start (out of file descriptors, memory, a missing binary) is a
 * failed result with exit -1 and stderr saying why, never a crash. (execa 9
 * throws a TypeError and leaves the child's 'error' event unhandled when
 * spawn fails with EMFILE, which kills the process.)
 */
import { spawnCollect, SpawnError, stripFinalNewline } from "../../../common/src/git/run.js";
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
    let r: { exitCode: number; stdout: string; stderr: string; timedOut: boolean };
    try {
      const out = await spawnCollect(cmd, args, {
        cwd: opts.cwd,
        env: { ...baseEnv, ...opts.env },
        timeoutMs: opts.timeoutMs,
        signal: opts.signal,
        keepBytes: 1024 * 1024,
      });
      r = { exitCode: out.exitCode, stdout: stripFinalNewline(out.stdout.toString("utf8")), stderr: stripFinalNewline(out.stderr.toString("utf8")), timedOut: out.timedOut };
    } catch (e) {
      if (!(e instanceof SpawnError)) throw e;
      r = { exitCode: -1, stdout: "", stderr: e.message, timedOut: false };
    }
    const ms = Date.now() - started;
    log.info("ran", { cmd: shown, ms, exit: r.exitCode, timedOut: r.timedOut || undefined });
    return { exitCode: r.exitCode, stdout: cap(r.stdout), stderr: cap(r.stderr), ms, timedOut: r.timedOut };
  };
}

/** "exit 4: <last lines of stderr>" for error messages. */
export function failureText(r: RunResult, timeoutMs?: number): string {
  const why = r.timedOut ? `timed out after ${timeoutMs ?? "?"} ms` : `exit ${r.exitCode}`;
  const tail = redact(r.stderr).trim().split("\n").slice(-15).join("\n");
  return tail ? `${why}: ${tail}` : why;
}
