/**
 * Runs git with a timeout, logging each invocation with duration and exit code.
 * Credentials embedded in remote URLs are redacted from logs and errors.
 *
 * A thin node:child_process wrapper, not execa: git runs on the agent's idle
 * poll path (one ls-remote a minute, for ever), where execa's import graph
 * cost the daemon ~5 MB of RSS for features git calls do not use. Same
 * behaviour as before: the parent environment plus the git settings below,
 * SIGTERM at the timeout and SIGKILL 5 s later, one final newline stripped.
 */
import { spawn } from "node:child_process";
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

export interface SpawnResult {
  /** -1 when the process could not start or was killed by a signal. */
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
  /** Why the process could not be started (e.g. ENOENT), if so. */
  error?: Error;
}

/** Runs `cmd` to completion, collecting its output; never rejects. */
export function spawnCollect(cmd: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs: number }): Promise<SpawnResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: [o.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    let spawnError: Error | undefined;
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    }, o.timeoutMs);
    child.stdout!.on("data", (c: Buffer) => out.push(c));
    child.stderr!.on("data", (c: Buffer) => err.push(c));
    child.on("error", (e) => (spawnError = e));
    if (o.input !== undefined) {
      child.stdin!.on("error", () => undefined); // EPIPE when git exits without reading: its exit code says why
      child.stdin!.end(o.input);
    }
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(killer);
      resolve({ exitCode: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err), timedOut, ...(spawnError ? { error: spawnError } : {}) });
    });
  });
}

const stripFinalNewline = (s: string) => (s.endsWith("\r\n") ? s.slice(0, -2) : s.endsWith("\n") ? s.slice(0, -1) : s);

export function gitRunner(opts: { git?: string; log: Logger; defaultTimeoutMs?: number }): GitRunner {
  const git = opts.git ?? "git";
  return async (args, o = {}) => {
    const started = Date.now();
    const shown = redactUrl(args.join(" "));
    const timeoutMs = o.timeoutMs ?? opts.defaultTimeoutMs ?? 300_000;
    const r = await spawnCollect(git, args, {
      cwd: o.cwd,
      timeoutMs,
      input: o.input,
      env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "/bin/false", LC_ALL: "C", ...o.env },
    });
    const ms = Date.now() - started;
    const stdout = stripFinalNewline(r.stdout.toString("utf8"));
    const stderr = r.error ? r.error.message : stripFinalNewline(r.stderr.toString("utf8"));
    opts.log.debug("git", { args: shown, ms, exit: r.exitCode, timedOut: r.timedOut || undefined });
    if (r.exitCode !== 0 && !o.allowFail) {
      const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${r.exitCode}`;
      throw new GitCommandError(`git ${shown} failed (${why}): ${redactUrl(stderr).trim().slice(0, 2000)}`, args, r.error || r.exitCode === -1 ? undefined : r.exitCode, redactUrl(stderr));
    }
    return { stdout, stderr, exitCode: r.exitCode };
  };
}
