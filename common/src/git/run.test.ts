// spawnCollect and gitRunner when the process cannot start at all: out of
// file descriptors (EMFILE, reproduced with a real lowered `ulimit -n`), a
// missing binary (ENOENT). Both must be an ordinary rejected promise with the
// errno kept as `cause`, never a crash of the calling process.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../log.js";
import { GitCommandError, gitRunner, SpawnError, spawnCollect } from "./run.js";

const built = fileURLToPath(new URL("../../../dist/common/src/git/run.js", import.meta.url));

describe("spawnCollect: a process that cannot start", () => {
  it("ENOENT rejects with a SpawnError naming the command, errno kept as cause", async () => {
    const e = await spawnCollect("/nonexistent/flotilla-no-such-binary", ["x"], { timeoutMs: 5_000 }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(SpawnError);
    expect((e as Error).message).toMatch(/cannot start \/nonexistent\/flotilla-no-such-binary: ENOENT/);
    expect(((e as Error).cause as NodeJS.ErrnoException).code).toBe("ENOENT");
  });

  it("gitRunner turns it into a GitCommandError with the cause, even with allowFail (a git that never ran says nothing)", async () => {
    const run = gitRunner({ git: "/nonexistent/git", log: memoryLogger("t") });
    for (const allowFail of [false, true]) {
      const e = await run(["status"], { allowFail }).then(() => null, (err: unknown) => err);
      expect(e).toBeInstanceOf(GitCommandError);
      expect((e as Error).message).toMatch(/git status could not start: .*ENOENT/);
      expect((e as Error).cause).toBeInstanceOf(SpawnError);
    }
  });

  it("out of file descriptors (EMFILE under ulimit -n): rejects, the process survives and spawns again once fds are free", () => {
    // A real node process with a lowered descriptor limit: fill the table, spawn, free, spawn again.
    const script = `
      import { openSync, closeSync } from "node:fs";
      const { spawnCollect } = await import(${JSON.stringify(built)});
      const fds = [];
      try { for (;;) fds.push(openSync("/dev/null", "r")); } catch (e) { if (e.code !== "EMFILE") throw e; }
      const first = await spawnCollect("true", [], { timeoutMs: 5000 }).then((r) => "resolved " + r.exitCode, (e) => "rejected " + e.name + " " + e.cause?.code);
      for (const fd of fds.splice(0)) closeSync(fd);
      const second = await spawnCollect("true", [], { timeoutMs: 5000 }).then((r) => "resolved " + r.exitCode, (e) => "rejected " + e.message);
      console.log(JSON.stringify({ first, second }));
    `;
    const r = spawnSync("sh", ["-c", `ulimit -n 40; exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ first: "rejected SpawnError EMFILE", second: "resolved 0" });
  });
});

describe("spawnCollect: a timed-out process whose child keeps its output open", () => {
  it("resolves once the process itself exited (git ls-remote's git-remote-http holds the pipes until curl gives up)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "flotilla-spawn-"));
    const pidFile = join(dir, "grandchild.pid");
    // sh starts a grandchild that inherits stdout/stderr and outlives sh by 60 s.
    const r = await spawnCollect("sh", ["-c", `sleep 60 & echo $! >${pidFile}; wait`], { timeoutMs: 300 });
    const grandchild = Number(readFileSync(pidFile, "utf8").trim());
    // Still running (not exited, nor a zombie nobody reaped yet).
    const state = (() => {
      try {
        return readFileSync(`/proc/${grandchild}/stat`, "utf8").split(") ")[1]?.[0];
      } catch {
        return "gone";
      }
    })();
    const alive = state === "S" || state === "R";
    if (alive) process.kill(grandchild, "SIGKILL");
    expect(r.timedOut).toBe(true);
    // It did not wait for the grandchild to close the pipes.
    expect(alive).toBe(true);
  }, 120_000);
});
