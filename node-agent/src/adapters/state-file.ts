/**
 * The agent's state file (<stateDir>/state.json), written atomically: a temp
 * file in the same directory, fsync, rename over the old one, fsync of the
 * directory. A reader (or the next start after `kill -9`) sees either the old
 * or the new state, never half of one. Also the operator's retry requests.
 */
import { closeSync, fsyncSync, openSync } from "node:fs";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { StateFileError } from "../errors.js";
import { STATE_VERSION, type AgentState } from "../loop/phases.js";
import type { RetryRequest, StateStore } from "../ports.js";

let tmpCounter = 0;

export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  // Unique per call: two writers of the same path must never share a temp file.
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export class FileStateStore implements StateStore {
  readonly path: string;
  readonly retryPath: string;

  constructor(readonly dir: string) {
    this.path = join(dir, "state.json");
    this.retryPath = join(dir, "retry-request.json");
  }

  async load(): Promise<AgentState | null> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new StateFileError(`cannot read ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    let parsed: AgentState;
    try {
      parsed = JSON.parse(text) as AgentState;
    } catch (e) {
      throw new StateFileError(`${this.path} is not valid JSON (it is only ever replaced atomically, so this needs a human): ${(e as Error).message}`, { cause: e });
    }
    if (parsed.version !== STATE_VERSION || typeof parsed.cycle?.phase !== "string") {
      throw new StateFileError(`${this.path} has an unknown format (version ${String(parsed.version)})`);
    }
    return parsed;
  }

  async save(state: AgentState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path, JSON.stringify(state, null, 1) + "\n");
  }

  async requestRetry(request: RetryRequest): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.retryPath, JSON.stringify(request) + "\n");
  }

  async pendingRetry(): Promise<RetryRequest | null> {
    try {
      return JSON.parse(await readFile(this.retryPath, "utf8")) as RetryRequest;
    } catch {
      return null;
    }
  }

  async clearRetry(): Promise<void> {
    await rm(this.retryPath, { force: true });
  }
}

