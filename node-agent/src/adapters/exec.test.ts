// The agent's command runner on real processes: output, exit codes, the
// timeout, cancellation, and a command that cannot start (missing binary; out
// of file descriptors under a real lowered `ulimit -n`) as a failed result,
// never a crash of the agent.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { commandRunner } from "./exec.js";

const built = fileURLToPath(new URL("../../../dist/node-agent/src/adapters/exec.js", import.meta.url));
const run = commandRunner(memoryLogger("t"), { PATH: process.env.PATH });

describe("commandRunner", () => {
  it("collects output without the final newline, and the exit code", async () => {
    const r = await run("sh", ["-c", "echo out; echo err >&2; exit 3"], { timeoutMs: 10_000 });
    expect(r).toMatchObject({ exitCode: 3, stdout: "out", stderr: "err", timedOut: false });
  });

  it("timeout and abort kill the command", async () => {
    expect(await run("sleep", ["30"], { timeoutMs: 200 })).toMatchObject({ exitCode: -1, timedOut: true });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect(await run("sleep", ["30"], { timeoutMs: 30_000, signal: ac.signal })).toMatchObject({ exitCode: -1, timedOut: false });
  });

  it("a missing binary is a failed result saying why", async () => {
    expect(await run("/nonexistent/flotilla-cmd", [], { timeoutMs: 5_000 })).toMatchObject({ exitCode: -1, stderr: "cannot start /nonexistent/flotilla-cmd: ENOENT" });
  });

  it("out of file descriptors (EMFILE): a failed result, the agent process survives", () => {
    const script = `
      import { openSync, closeSync } from "node:fs";
      const { commandRunner } = await import(${JSON.stringify(built)});
      const { memoryLogger } = await import(${JSON.stringify(built.replace(/node-agent\/src\/adapters\/exec\.js$/, "common/src/log.js"))});
      const run = commandRunner(memoryLogger("t"), { PATH: process.env.PATH });
      await run("true", [], { timeoutMs: 5000 }); // load everything lazily loaded first
      const fds = [];
      try { for (;;) fds.push(openSync("/dev/null", "r")); } catch (e) { if (e.code !== "EMFILE") throw e; }
      const first = await run("true", [], { timeoutMs: 5000 }).then((r) => r.exitCode + " " + r.stderr, (e) => "rejected " + e.message);
      for (const fd of fds.splice(0)) closeSync(fd);
      await new Promise((r) => setTimeout(r, 100));
      const second = await run("true", [], { timeoutMs: 5000 }).then((r) => String(r.exitCode));
      console.log(JSON.stringify({ first, second }));
    `;
    const r = spawnSync("sh", ["-c", `ulimit -n 200; exec "${process.execPath}" --input-type=module -e "$0"`, script], { encoding: "utf8", timeout: 30_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ first: "-1 cannot start true: EMFILE", second: "0" });
  });
});
