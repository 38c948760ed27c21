// `flotilla status --watch` as an operator runs it: the real CLI process
// (bin/flotilla.js) against a real controller, its output on a pipe, ended by
// SIGINT (Ctrl-C); and `flotilla audit --limit`.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditReport } from "../../schemas/src/api.js";
import type { HostSigner } from "../../common/src/signing.js";
import { freePort } from "../helpers/free-port.js";
import { makeHostSigners, newFleetRepo, OPERATOR_TOKEN, SimAgent, startTestController, waitFor } from "./controller/harness.js";
import { cli } from "./controller/cli.js";

const BIN = fileURLToPath(new URL("../../bin/flotilla.js", import.meta.url));

let signers: Record<string, HostSigner>;
let ctl: Awaited<ReturnType<typeof startTestController>>;
let C: string;

beforeAll(async () => {
  signers = await makeHostSigners(["canary-1", "web-1", "web-2"]);
  const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"], soak: "1h" }, { name: "web", members: ["web-1", "web-2"] }] });
  C = await repo.head();
  ctl = await startTestController({ repo });
});
afterAll(async () => {
  await ctl?.stop();
});

function watch(controller: string): { child: ChildProcess; lines: () => string[]; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const env = { ...process.env };
  delete env.COLUMNS;
  const child = spawn(process.execPath, [BIN, "status", "--watch", "--interval", "0.2", "--controller", controller, "--token", OPERATOR_TOKEN], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return { child, lines: () => out.split("\n").filter(Boolean), exited };
}

describe("flotilla status --watch (on a pipe)", () => {
  it("prints a line when the rollout changes, nothing while it does not; Ctrl-C exits 0", async () => {
    const w = watch(ctl.url);
    try {
      const first = await waitFor(async () => w.lines()[0], "the first line", 60_000);
      expect(first).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ ${C.slice(0, 12)} progressing: canary progressing 0/1, web pending 0/2; 0 healthy, 0 failed, 3 stale, 0 deploying$`));
      await new Promise((r) => setTimeout(r, 1_000)); // five more polls, nothing changed
      expect(w.lines()).toHaveLength(1);
      const canary = new SimAgent(signers["canary-1"]!, ctl.url);
      await canary.send(...canary.deployed(C));
      const second = await waitFor(async () => w.lines()[1], "a line for the change");
      expect(second).toMatch(/canary soaking 1\/1, web pending 0\/2; 1 healthy, 0 failed, 2 stale, 0 deploying$/);
      w.child.kill("SIGINT");
      expect(await w.exited).toEqual({ code: 0, signal: null });
      expect(w.lines()).toHaveLength(2);
    } finally {
      w.child.kill("SIGKILL");
    }
  });

  it("shows a controller it cannot reach, once, and keeps retrying", async () => {
    const port = await freePort();
    const w = watch(`http://127.0.0.1:${port}`);
    try {
      const err = await waitFor(async () => w.lines()[0], "the error line", 60_000);
      expect(err).toMatch(/^\S+ \S+Z error: cannot reach the controller at http:\/\/127\.0\.0\.1:\d+.*\(retrying in 0\.2 s\)$/);
      await new Promise((r) => setTimeout(r, 800));
      expect(w.lines()).toHaveLength(1); // the same error is not repeated on a pipe
      expect(w.child.exitCode).toBeNull();
      w.child.kill("SIGINT");
      expect(await w.exited).toEqual({ code: 0, signal: null });
    } finally {
      w.child.kill("SIGKILL");
    }
  });

  it("refuses --watch with --json, and a bad --interval, as usage errors", async () => {
    expect((await cli(["status", "--watch", "--json", "--controller", ctl.url])).code).toBe(2);
    const bad = await cli(["status", "--watch", "--interval", "fast", "--controller", ctl.url]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--interval: expected seconds/);
  });
});

describe("flotilla audit --limit", () => {
  it("keeps the N newest entries, oldest first; refuses a bad N before asking the controller", async () => {
    const web = new SimAgent(signers["web-1"]!, ctl.url);
    await web.send(...web.failed(C));
    const audit = async (...extra: string[]) => JSON.parse((await cli(["audit", "--controller", ctl.url, "--token", OPERATOR_TOKEN, "--json", ...extra])).out) as AuditReport;
    // (the decisions web-1's failure leads to are recorded just after its report: compare once they are in)
    await waitFor(async () => {
      const all = await audit();
      const two = await audit("--limit", "2");
      return all.entries.length > 3 && JSON.stringify(two.entries) === JSON.stringify(all.entries.slice(-2)) && JSON.stringify((await audit()).entries) === JSON.stringify(all.entries);
    }, "--limit 2 to give the two newest entries");
    const text = await cli(["audit", "--controller", ctl.url, "--token", OPERATOR_TOKEN, "--limit", "1"]);
    expect(text.out.trimEnd().split("\n")).toHaveLength(2); // header + one entry
    for (const bad of ["0", "abc", "10001", "1.5"]) {
      const r = await cli(["audit", "--controller", "http://127.0.0.1:9", "--limit", bad]);
      expect(r.code, bad).toBe(2);
      expect(r.err).toMatch(/--limit: expected an integer from 1 to 10000/);
    }
  });
});
