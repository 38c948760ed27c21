// The agent's CLI and daemon: --help, status [--json], retry (a remembered
// failed revision deploys again after the operator asks), and `run` with the
// Prometheus endpoint, stopped by SIGTERM.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { buildAgent, waitFor, World } from "./agent/helpers.js";
import { freePort } from "../helpers/free-port.js";

beforeAll(async () => {
  await buildAgent();
}, 180_000);

afterAll(async () => {
  await cleanupTempDirs();
});


describe("flotilla-agent CLI", () => {
  it("prints help, and rejects unknown commands and bad configs with exit 2", async () => {
    const w = await World.create();
    const help = await w.cli("--help");
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/once .*one cycle/s);
    expect((await w.cli("frobnicate")).code).toBe(2);
    await w.writeConfig({ remotes: ["not a url"] });
    const bad = await w.cli("status");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/:\d+:\d+  remotes\[0\]  expected a file:\/\/, http\(s\):\/\/, ssh:\/\/ or scp-style git remote/);
    await w.close();
  });

  it("shows status, and `retry` lets a remembered failed revision deploy again", async () => {
    const w = await World.create();
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    expect((await w.once()).code).toBe(0);
    const flaky = join(w.fixture.state, "flaky");
    // A check that fails until the operator fixes the environment, then passes: the revision itself is fine.
    const checks = [...w.defaultChecks(), { type: "command", name: "env-ready", command: ["test", "-e", flaky], interval: "100ms", deadline: "500ms" }];
    const c2 = await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: w.host, checks }] }) }, "c2 with a check");
    expect((await w.once()).code).toBe(1);

    const st = await w.cli("status", "--json");
    expect(st.code).toBe(0);
    const status = JSON.parse(st.out);
    expect(status).toMatchObject({ host: w.host, phase: "rolledBack", current: { rev: c1 }, target: { rev: c2 }, failedRevs: [{ rev: c2, reason: "HealthCheckFailed" }], retryPending: false });
    const human = await w.cli("status");
    expect(human.out).toMatch(/phase: +rolledBack/);
    expect(human.out).toMatch(new RegExp(`failed revs: ${c2.slice(0, 12)} \\(HealthCheckFailed\\)`));

    expect((await w.once()).code).toBe(1); // still remembered
    await writeFile(flaky, "");
    const retry = await w.cli("retry");
    expect(retry.code).toBe(0);
    expect(JSON.parse((await w.cli("status", "--json")).out).retryPending).toBe(true);
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    expect((await w.state()).current?.rev).toBe(c2);
    expect(JSON.parse((await w.cli("status", "--json")).out)).toMatchObject({ phase: "done", failedRevs: [], retryPending: false });
    await w.close();
  });

  it("runs as a daemon: deploys new commits, serves Prometheus metrics, stops on SIGTERM", async () => {
    const w = await World.create();
    const port = await freePort();
    await w.writeConfig({ pollInterval: "200ms", jitter: "100ms", metrics: { listen: `127.0.0.1:${port}` }, heartbeatInterval: "1s" });
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    const daemon = w.spawnBuilt(["run"]);
    const exited = new Promise<number | null>((r) => daemon.once("exit", (c) => r(c)));
    try {
      await waitFor("c1 deployed", async () => (await w.state().catch(() => null))?.current?.rev === c1, 60_000, 50);
      const c2 = await w.commit({ "notes.txt": "2" }, "c2");
      await waitFor("c2 deployed", async () => (await w.state().catch(() => null))?.current?.rev === c2, 60_000, 50);
      const text = await waitFor("metrics", async () => {
        const t = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => "");
        return t.includes('flotilla_agent_phase{phase="done"} 1') && /polls_total\{result="unchanged"\} [1-9]/.test(t) ? t : null;
      });
      expect(text).toMatch(/flotilla_agent_last_deploy_outcome\{outcome="succeeded",reason="Succeeded"\} 1/);
      expect(text).toMatch(/flotilla_agent_report_queue_length \d+/);
      expect(text).toMatch(/flotilla_agent_polls_total\{result="unchanged"\} [1-9]/);
      expect(text).toMatch(/^flotilla_agent_info\{version="[^"]+"\} 1$/m);
      expect(text).toMatch(/^flotilla_agent_step_duration_seconds_count\{step="build"\} [1-9]/m);
      expect(text).toMatch(/^flotilla_agent_step_duration_seconds_count\{step="activate"\} [1-9]/m);
      expect(text).toMatch(/^flotilla_agent_step_duration_seconds_count\{step="verify"\} [1-9]/m);
      expect(text).toMatch(/^process_resident_memory_bytes [1-9]/m);
      daemon.kill("SIGTERM");
      expect(await exited).toBe(0);
      expect(daemon.output()).toMatch(/stopping signal=SIGTERM/);
    } finally {
      if (daemon.exitCode === null) process.kill(-daemon.pid!, "SIGKILL");
      await w.close();
    }
  });
});
