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
import { spawn, type ChildProcess } from "node:child_process";
import type { Logger } from "../log.js";
import { timerDelay } from "../../../schemas/src/duration.js";

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

/**
 * What git said, for an error message: every non-empty stderr line (git's
 * advice often continues over several: "fatal: '/x' does not appear to be a
 * git repository" … "and the repository exists."), "hint:" lines dropped,
 * joined with spaces, URLs' credentials redacted, at most `max` characters.
 */
export function gitSaid(stderr: string, max = 400): string {
  const text = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("hint:"))
    .join(" ");
  const said = redactUrl(text);
  return said.length > max ? `${said.slice(0, max - 1)}…` : said;
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
  /** -1 when the process was killed by a signal. */
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
  timedOut: boolean;
}

/**
 * The process could not be started at all: out of file descriptors (EMFILE,
 * ENFILE), memory or processes (ENOMEM, EAGAIN), or the binary is missing
 * (ENOENT). The errno error is the `cause`; nothing ran, so no exit code.
 */
export class SpawnError extends Error {
  override name = "SpawnError";
  constructor(
    readonly command: string,
    cause: unknown,
  ) {
    super(`cannot start ${command}: ${(cause as NodeJS.ErrnoException)?.code ?? (cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * Runs `cmd` to completion, collecting its output. Resolves with the exit
 * code whatever it is; rejects only with a SpawnError when the process could
 * not be started. Node reports that three ways: spawn() throws (ENOMEM), or
 * an 'error' event follows with stdio never set up (EMFILE, ENFILE) or with
 * pipes but no process (ENOENT, EACCES, EAGAIN). All three end here as the
 * same rejection, with no listener left unattached and no pipe left open.
 */
export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs: number;
  /** Aborting kills the process like the timeout does (SIGTERM, SIGKILL 5 s later). */
  signal?: AbortSignal;
  /** Keep only the last this many bytes of stdout and of stderr (default: all). */
  keepBytes?: number;
}

export function spawnCollect(cmd: string, args: string[], o: SpawnOptions): Promise<SpawnResult> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: [o.input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
    } catch (cause) {
      reject(new SpawnError(cmd, cause));
      return;
    }
    const out = collector(o.keepBytes);
    const err = collector(o.keepBytes);
    let timedOut = false;
    let settled = false;
    let killer: NodeJS.Timeout | undefined;
    let stopping = false;
    // Once stopped (timeout, abort) and exited, the process is done even when
    // a child of its own still holds our pipes (git ls-remote's
    // git-remote-http keeps them open until curl gives up, minutes on a cut
    // link): close them instead of waiting for 'close'.
    const abandonPipes = () => {
      if (settled) return;
      finish();
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      resolve({ exitCode: child.exitCode ?? -1, stdout: out.bytes(), stderr: err.bytes(), timedOut });
    };
    const exited = () => child.exitCode !== null || child.signalCode !== null;
    const stop = () => {
      if (stopping || settled) return;
      stopping = true;
      if (exited()) {
        setTimeout(abandonPipes, 100);
        return;
      }
      child.kill("SIGTERM");
      killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    };
    child.on("exit", () => {
      if (stopping) setTimeout(abandonPipes, 100); // 'close' usually comes first
    });
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, timerDelay(o.timeoutMs));
    const onAbort = () => stop();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    if (o.signal?.aborted) stop();
    const finish = () => {
      settled = true;
      clearTimeout(timer);
      clearTimeout(killer);
      o.signal?.removeEventListener("abort", onAbort);
    };
    child.on("error", (e) => {
      // With a pid the process exists (a failed kill, say): 'close' still comes and says how it ended.
      if (settled || child.pid !== undefined) return;
      finish();
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      reject(new SpawnError(cmd, e));
    });
    child.stdout?.on("data", out.push);
    child.stderr?.on("data", err.push);
    if (o.input !== undefined && child.stdin) {
      child.stdin.on("error", () => undefined); // EPIPE when git exits without reading: its exit code says why
      child.stdin.end(o.input);
    }
    child.on("close", (code) => {
      if (settled) return;
      finish();
      resolve({ exitCode: code ?? -1, stdout: out.bytes(), stderr: err.bytes(), timedOut });
    });
  });
}

/** Collects chunks, keeping at most the last `keep` bytes. */
function collector(keep = Infinity) {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push: (c: Buffer) => {
      chunks.push(c);
      size += c.length;
      if (size > 2 * keep) {
        const all = Buffer.concat(chunks);
        chunks = [all.subarray(all.length - keep)];
        size = keep;
      }
    },
    bytes: () => {
      const all = Buffer.concat(chunks);
      return all.length > keep ? all.subarray(all.length - keep) : all;
    },
  };
}

export const stripFinalNewline = (s: string) => (s.endsWith("\r\n") ? s.slice(0, -2) : s.endsWith("\n") ? s.slice(0, -1) : s);

export function gitRunner(opts: { git?: string; log: Logger; defaultTimeoutMs?: number }): GitRunner {
  const git = opts.git ?? "git";
  return async (args, o = {}) => {
    const started = Date.now();
    const shown = redactUrl(args.join(" "));
    const timeoutMs = o.timeoutMs ?? opts.defaultTimeoutMs ?? 300_000;
    let r: SpawnResult;
    try {
      r = await spawnCollect(git, args, {
        cwd: o.cwd,
        timeoutMs,
        input: o.input,
        env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_ASKPASS: "/bin/false", LC_ALL: "C", ...o.env },
      });
    } catch (cause) {
      // Even with allowFail: a git that never ran says nothing about the repository
      // (an "exit -1" from `merge-base --is-ancestor` would read as a force-push).
      opts.log.warn("git could not start", { args: shown, error: (cause as Error).message });
      throw new GitCommandError(`git ${shown} could not start: ${(cause as Error).message}`, args, undefined, "", { cause });
    }
    const ms = Date.now() - started;
    const stdout = stripFinalNewline(r.stdout.toString("utf8"));
    const stderr = stripFinalNewline(r.stderr.toString("utf8"));
    opts.log.debug("git", { args: shown, ms, exit: r.exitCode, timedOut: r.timedOut || undefined });
    if (r.exitCode !== 0 && !o.allowFail) {
      const why = r.timedOut ? `timed out after ${timeoutMs} ms` : `exit ${r.exitCode}`;
      throw new GitCommandError(`git ${shown} failed (${why}): ${redactUrl(stderr).trim().slice(0, 2000)}`, args, r.exitCode === -1 ? undefined : r.exitCode, redactUrl(stderr));
    }
    return { stdout, stderr, exitCode: r.exitCode };
  };
}
