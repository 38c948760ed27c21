/**
 * One agent per state dir: <stateDir>/agent.lock names its holder as
 * `<pid> <start time> <boot id>` (the start time in clock ticks from
 * /proc/<pid>/stat, so a PID reused by another process after a kill -9 or a
 * reboot does not count as the holder). A lock whose holder is gone is stale
 * and taken over.
 *
 * Node has no flock(), so every step is one atomic filesystem operation:
 *  - taking a free lock is link(<own temp file>, agent.lock), which fails
 *    with EEXIST when anyone holds it (the file is complete when it appears);
 *  - removing a stale lock is reserved to the one contender that linked the
 *    takeover guard `agent.lock.takeover-<hash of the stale content>-<k>`.
 *    It unlinks agent.lock only if it still holds that stale content, then
 *    races like everyone else for the free lock. Nobody else may unlink a
 *    lock with that content, so two contenders can never both remove a lock
 *    and both win (the old rm-then-create let 2–8 of 40 racers win).
 *    Should the guard's holder die mid-takeover, the next contender moves on
 *    to guard k+1.
 * A guard is removed once its content is gone from the lock (it names a dead
 * process, so it can never be the lock again); the winner also removes guards
 * left by contenders that died mid-takeover.
 */
import { closeSync, linkSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync, mkdirSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { AgentLockedError } from "../errors.js";

const LOCK = "agent.lock";
const GUARD = `${LOCK}.takeover-`;

interface Holder {
  pid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat); null in the old pid-only format. */
  start: string | null;
  boot: string | null;
}

function readOr(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command, which may contain spaces). */
function startTime(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return null;
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
}

function bootId(): string | null {
  return readOr("/proc/sys/kernel/random/boot_id")?.trim() ?? null;
}

function me(): Holder {
  return { pid: process.pid, start: startTime(process.pid), boot: bootId() };
}

function format(h: Holder): string {
  return `${h.pid} ${h.start ?? "-"} ${h.boot ?? "-"}\n`;
}

function parse(content: string): Holder | null {
  const [pid, start, boot] = content.trim().split(/\s+/);
  const n = Number(pid);
  if (!Number.isSafeInteger(n) || n <= 0) return null;
  return { pid: n, start: start && start !== "-" ? start : null, boot: boot && boot !== "-" ? boot : null };
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Is the process a lock file names still the one that wrote it? */
export function holderAlive(h: Holder): boolean {
  if (!pidExists(h.pid)) return false;
  const start = startTime(h.pid);
  if (start === null) return true; // no /proc: the pid is all we can check
  if (h.start === null) {
    // Old format (a bare pid): only a process that is a flotilla agent counts.
    const cmdline = readOr(`/proc/${h.pid}/cmdline`) ?? "";
    return /flotilla/.test(cmdline);
  }
  if (h.boot && h.boot !== bootId()) return false;
  return h.start === start;
}

function tryLink(from: string, to: string): boolean {
  try {
    linkSync(from, to);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw e;
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));
/** A short synchronous wait (the lock is taken before anything else runs). */
function sleepMs(ms: number): void {
  Atomics.wait(pause, 0, 0, ms);
}

/** Remove a stale lock whose content is `stale`, if we win its takeover guard. */
function takeOver(stateDir: string, lock: string, tmp: string, stale: string): void {
  const base = join(stateDir, `${GUARD}${createHash("sha256").update(stale).digest("hex").slice(0, 16)}-`);
  for (let k = 1; k < 64; k++) {
    const guard = `${base}${k}`;
    if (!tryLink(tmp, guard)) {
      const holder = parse(readOr(guard) ?? "");
      if (holder && holderAlive(holder)) {
        sleepMs(5 + Math.random() * 10); // someone else is taking it over; then look at the lock again
        return;
      }
      continue; // that contender died mid-takeover: the next guard decides
    }
    // Only the holder of a guard for this content removes a lock with this content.
    if (readOr(lock) === stale) rmSync(lock, { force: true });
    // That content is gone from the lock for good (it names a dead process), so the guard has done its job.
    rmSync(guard, { force: true });
    return;
  }
}

export function acquireLock(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const lock = join(stateDir, LOCK);
  const self = format(me());
  // The lock file appears complete (link), never half-written.
  const tmp = join(stateDir, `.${LOCK}.${process.pid}.${randomBytes(6).toString("hex")}`);
  const fd = openSync(tmp, "wx", 0o600);
  try {
    writeSync(fd, self);
  } finally {
    closeSync(fd);
  }
  try {
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (tryLink(tmp, lock)) {
        for (const f of readdirSync(stateDir)) if (f.startsWith(GUARD)) rmSync(join(stateDir, f), { force: true });
        return () => {
          if (readOr(lock) === self) rmSync(lock, { force: true });
        };
      }
      const content = readOr(lock);
      if (content === null) continue; // released or taken over in between: race again
      const holder = parse(content);
      if (holder && holder.pid !== process.pid && holderAlive(holder)) {
        throw new AgentLockedError(`another flotilla-agent (pid ${holder.pid}) is running on ${stateDir}`);
      }
      takeOver(stateDir, lock, tmp, content);
    }
    throw new AgentLockedError(`cannot take ${lock}: it kept changing for 10 s`);
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
  }
}
