/**
 * One agent per state dir: <stateDir>/agent.lock holds the pid. A lock whose
 * process is gone (kill -9, power loss) is stale and taken over.
 */
import { openSync, closeSync, readFileSync, rmSync, writeSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { AgentLockedError } from "../errors.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function acquireLock(stateDir: string): () => void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const path = join(stateDir, "agent.lock");
  for (let i = 0; i < 3; i++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, "utf8").trim() === String(process.pid)) rmSync(path, { force: true });
        } catch {
          // already gone
        }
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const pid = Number(readFileSync(path, "utf8").trim());
      if (pid && pid !== process.pid && alive(pid)) throw new AgentLockedError(`another flotilla-agent (pid ${pid}) is running on ${stateDir}`);
      rmSync(path, { force: true });
    }
  }
  throw new AgentLockedError(`cannot take ${path}`);
}
