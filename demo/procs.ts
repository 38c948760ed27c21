/**
 * The demo's child processes: each one detached in its own process group
 * (so Ctrl-C reaches only the orchestrator, which then stops them, and so
 * `--keep` can leave them running), stdout and stderr appended to a log
 * file, and every pid written to `stop.sh`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { chmod } from "node:fs/promises";
import { join } from "node:path";

export interface Proc {
  name: string;
  pid: number;
  log: string;
  child: ChildProcess;
  exited: boolean;
  exitCode: number | null;
  /** Stopped after every process of a higher tier (agents before the controller before the health server). */
  tier: number;
}

export class Procs {
  readonly list: Proc[] = [];

  constructor(private readonly logDir: string) {}

  spawn(name: string, argv: string[], env: NodeJS.ProcessEnv, cwd?: string, tier = 0): Proc {
    const log = join(this.logDir, `${name}.log`);
    const fd = openSync(log, "a");
    const child = spawn(argv[0]!, argv.slice(1), { env, cwd, detached: true, stdio: ["ignore", fd, fd] });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${name}: ${argv.join(" ")}`);
    const p: Proc = { name, pid: child.pid, log, child, exited: false, exitCode: null, tier };
    child.on("exit", (code, signal) => {
      p.exited = true;
      p.exitCode = code ?? (signal ? 128 : null);
    });
    this.list.push(p);
    return p;
  }

  /** Lets the orchestrator exit while the children keep running (--keep). */
  detachAll(): void {
    for (const p of this.list) p.child.unref();
  }

  /** SIGTERM to every process group, highest tier first; SIGKILL to those still alive after `graceMs`. */
  async stopAll(graceMs = 3_000): Promise<void> {
    const tiers = [...new Set(this.list.map((p) => p.tier))].sort((a, b) => b - a);
    for (const tier of tiers) {
      const alive = () => this.list.filter((p) => p.tier === tier && !p.exited);
      for (const p of alive()) signalGroup(p.pid, "SIGTERM");
      const deadline = Date.now() + graceMs;
      while (alive().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const p of alive()) signalGroup(p.pid, "SIGKILL");
    }
  }

  /** Same as stopAll, synchronous and immediate (for process "exit"). */
  killAllNow(): void {
    for (const p of this.list) if (!p.exited) signalGroup(p.pid, "SIGKILL");
  }

  async writeStopScript(path: string, root: string): Promise<void> {
    const lines = [
      "#!/bin/sh",
      "# Stops the processes the Flotilla demo left running (--keep), then offers to remove its temp dir.",
      ...this.list.map((p) => `kill -TERM -${p.pid} 2>/dev/null && echo "stopped ${p.name} (pid ${p.pid})"`),
      "sleep 1",
      ...this.list.map((p) => `kill -KILL -${p.pid} 2>/dev/null`),
      `echo "to remove everything: rm -rf ${root}"`,
      "exit 0",
      "",
    ];
    writeFileSync(path, lines.join("\n"));
    await chmod(path, 0o755);
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/** The last `n` lines of a log file. */
export function tail(path: string, n = 25): string {
  try {
    const lines = readFileSync(path, "utf8").trimEnd().split("\n");
    return lines.slice(-n).join("\n");
  } catch (e) {
    return `(cannot read ${path}: ${(e as Error).message})`;
  }
}

/** Resolves with the first match of `re` in a process's log file, or rejects after `timeoutMs` or on exit. */
export async function waitForLog(p: Proc, re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text = "";
    try {
      text = readFileSync(p.log, "utf8");
    } catch {
      // not written yet
    }
    const m = re.exec(text);
    if (m) return m;
    if (p.exited) throw new Error(`${p.name} exited (code ${p.exitCode}) before printing ${re}:\n${tail(p.log)}`);
    if (Date.now() > deadline) throw new Error(`${p.name} did not print ${re} within ${timeoutMs / 1000}s:\n${tail(p.log)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
