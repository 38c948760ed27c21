// The agent lock (<stateDir>/agent.lock), raced by real processes: 40
// contenders that import the built lock module and all try to take a stale
// lock at once, 40 times over; exactly one must win every time. A lock file
// naming a live process that is not the agent (a reused PID) is stale too.
import { afterAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";
import { REPO_ROOT } from "./agent/helpers.js";

const LOCK_MODULE = join(REPO_ROOT, "dist/node-agent/src/adapters/lock.js");
const RACER = join(REPO_ROOT, "test/integration/agent/lock-racer.mjs");

afterAll(async () => {
  await cleanupTempDirs();
});

interface Racer {
  child: ChildProcess;
  next(): Promise<string>;
}

function startRacer(): Racer {
  const child = spawn(process.execPath, [RACER, LOCK_MODULE], { stdio: ["pipe", "pipe", "inherit"] });
  const queue: string[] = [];
  const waiting: Array<(l: string) => void> = [];
  createInterface({ input: child.stdout! }).on("line", (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  return { child, next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r))) };
}

/** The pid of a process that has exited. */
function deadPid(): number {
  const r = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

describe("agent lock", () => {
  it("lets exactly one of 40 concurrent processes take a stale lock, 40 times over", async () => {
    const racers = Array.from({ length: 40 }, startRacer);
    try {
      for (const r of racers) expect(await r.next()).toBe("ready");
      const root = await makeTempDir("flotilla-lock-race-");
      const winnersPerRound: number[] = [];
      const odd: string[] = [];
      const leftovers: string[] = [];
      for (let round = 0; round < 40; round++) {
        const dir = join(root, `round-${round}`);
        await mkdir(dir, { recursive: true });
        // A stale lock: the previous agent was killed (its pid is gone).
        await writeFile(join(dir, "agent.lock"), `${deadPid()}\n`);
        for (const r of racers) r.child.stdin!.write(`go ${dir}\n`);
        const results = await Promise.all(racers.map((r) => r.next()));
        const won = results.filter((x) => x === "won").length;
        winnersPerRound.push(won);
        odd.push(...results.filter((x) => x !== "won" && !/^locked: another flotilla-agent \(pid \d+\) is running on /.test(x)));
        for (const r of racers) r.child.stdin!.write("release\n");
        for (const r of racers) expect(await r.next()).toBe("released");
        // Nothing is left behind once the winner released it.
        leftovers.push(...(await readdir(dir)).filter((f) => f.startsWith("agent.lock")));
      }
      expect(winnersPerRound).toEqual(Array(40).fill(1));
      expect(odd).toEqual([]);
      expect(leftovers).toEqual([]);
    } finally {
      for (const r of racers) r.child.kill();
    }
  }, 240_000);

  it("takes over a lock naming a live process that is not the agent (a reused PID), and refuses a live agent's", async () => {
    const dir = await makeTempDir("flotilla-lock-reused-");
    const unrelated = spawn("sleep", ["300"], { stdio: "ignore" });
    const holder = startRacer();
    const contender = startRacer();
    try {
      expect(await holder.next()).toBe("ready");
      expect(await contender.next()).toBe("ready");
      // The old format (a bare pid) and the current one, both naming `sleep`.
      for (const content of [`${unrelated.pid}\n`, `${unrelated.pid} 1 00000000-0000-0000-0000-000000000000\n`]) {
        await writeFile(join(dir, "agent.lock"), content);
        contender.child.stdin!.write(`go ${dir}\n`);
        expect(await contender.next()).toBe("won");
        contender.child.stdin!.write("release\n");
        expect(await contender.next()).toBe("released");
        expect(existsSync(join(dir, "agent.lock"))).toBe(false);
      }
      // A live agent's lock is respected.
      holder.child.stdin!.write(`go ${dir}\n`);
      expect(await holder.next()).toBe("won");
      const content = await readFile(join(dir, "agent.lock"), "utf8");
      expect(content).toMatch(new RegExp(`^${holder.child.pid}\\b`));
      contender.child.stdin!.write(`go ${dir}\n`);
      expect(await contender.next()).toBe(`locked: another flotilla-agent (pid ${holder.child.pid}) is running on ${dir}`);
      // The holder dies without releasing (kill -9): the lock is stale, the contender takes it.
      holder.child.kill("SIGKILL");
      await new Promise((r) => holder.child.once("exit", r));
      contender.child.stdin!.write(`go ${dir}\n`);
      expect(await contender.next()).toBe("won");
      contender.child.stdin!.write("release\n");
      expect(await contender.next()).toBe("released");
    } finally {
      unrelated.kill();
      holder.child.kill();
      contender.child.kill();
    }
  }, 60_000);
});
