/**
 * Runs git with a timeout, logging each invocation with duration and exit code.
 * Credentials embedded in remote URLs are redacted from logs and errors.
 */
import { execa } from "execa";
import type { Logger } from "../log.js";

export class GitCommandError extends Error {
  override name = "GitCommandError";
  constructor(
    message: string,
    readonly args: string[],
    readonly exitCode: number | undefined,
    readonly stderr: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function redactUrl(text: string): string {
  return text.replace(/(\w+:\/\/)[^/@\s]+@/g, "$1***@");
}

export interface GitRunner {
  (args: string[], opts?: { cwd?: string; timeoutMs?: number; input?: string; allowFail?: boolean; env?: Record<string, string> }): Promise<{
    stdout: string;
    stderr: string;
    exitCode: number;
  }>;
}

export function gitRunner(opts: { git?: string; log: Logger; defaultTimeoutMs?: number }): GitRunner {
  const git = opts.git ?? "git";
  return async (args, o = {}) => {
    const started = Date.now();
    const shown = redactUrl(args.join(" "));
    const r = await execa(git, args, {
      cwd: o.cwd,
      timeout: o.timeoutMs ?? opts.defaultTimeoutMs ?? 300_000,
      input: o.input,
      reject: false,
      stripFinalNewline: true,
      env: { GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "/bin/false", LC_ALL: "C", ...o.env },
    });
    const ms = Date.now() - started;
    const exitCode = r.exitCode ?? -1;
    opts.log.debug("git", { args: shown, ms, exit: exitCode, timedOut: r.timedOut || undefined });
    if ((r.failed || exitCode !== 0) && !o.allowFail) {
      const why = r.timedOut ? `timed out after ${o.timeoutMs ?? opts.defaultTimeoutMs ?? 300_000} ms` : `exit ${exitCode}`;
      throw new GitCommandError(`git ${shown} failed (${why}): ${redactUrl(String(r.stderr ?? "")).trim().slice(0, 2000)}`, args, r.exitCode, redactUrl(String(r.stderr ?? "")));
    }
    return { stdout: String(r.stdout ?? ""), stderr: String(r.stderr ?? ""), exitCode };
  };
}
