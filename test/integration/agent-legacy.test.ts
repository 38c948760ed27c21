// flotilla-agent on a legacy (non-NixOS) host: the fleet flake's own
// build-legacy app, built by real nix and its program run, with the legacy env loading (docs/agent.md)
// (.env.production over .env.local); a failure re-runs the previous good
// revision's app. Env values are secrets: they never reach logs, state or reports.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { startTestController } from "./agent/controller.js";
import { World } from "./agent/helpers.js";

afterAll(async () => {
  await cleanupTempDirs();
});

describe("agent on a legacy host", () => {
  it("runs the app with the env loaded, and re-runs the previous revision's app when it fails", async () => {
    const w = await World.create({ kind: "legacy" });
    const ctl = await startTestController({ hostKeys: { [w.host]: w.hostKey.pub } });
    await w.writeConfig({ controller: ctl.url });
    const secret = "s3cr3t-token-value-42";
    await writeFile(join(w.projectDir, ".env.production"), `SERVICE_PORT=9001\nSERVICE_TOKEN=${secret}\n`);
    await writeFile(join(w.projectDir, ".env.local"), "SERVICE_PORT=1\nSERVICE_LOCAL_ONLY=yes\n");

    const c1 = await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: w.host, kind: "legacy" }] }) }, "c1");
    const r1 = await w.once();
    expect(r1.code, r1.err).toBe(0);
    const calls1 = await w.calls();
    expect(calls1).toHaveLength(1);
    expect(calls1[0]).toMatchObject({ host: "legacy-1", operation: "build-legacy", revision: c1, status: "ok", cwd: w.projectDir });
    // .env.production wins over .env.local (the first existing file is loaded, docs/agent.md).
    expect(calls1[0]!.env).toEqual({ SERVICE_PORT: "9001", SERVICE_TOKEN: secret });

    const bad = await w.commit({ "markers/legacy-1/fail-legacy": "" }, "break the legacy deploy");
    const r2 = await w.once();
    expect(r2.code).toBe(1);
    expect(r2.err).toMatch(/ActivationFailed/);
    const calls = (await w.calls()).map((c) => `${c.revision.slice(0, 7)}:${c.status}`);
    expect(calls).toEqual([`${c1.slice(0, 7)}:ok`, `${bad.slice(0, 7)}:failed`, `${c1.slice(0, 7)}:ok`]);
    expect((await w.hostState()).currentRevision).toBe(c1);
    const s = await w.state();
    expect(s.cycle.phase).toBe("rolledBack");
    expect(s.current?.rev).toBe(c1);
    expect(s.failedRevs.map((f) => f.rev)).toEqual([bad]);

    // Secret values never appear in logs, the state file or the reports.
    await new Promise((r) => setTimeout(r, 200));
    expect(r1.err + r2.err).not.toContain(secret);
    expect(JSON.stringify(s)).not.toContain(secret);
    expect(JSON.stringify(ctl.messages)).not.toContain(secret);
    expect(ctl.events().length).toBeGreaterThan(4);
    for (const f of await readdir(join(w.stateDir, "outbox"))) expect(await readFile(join(w.stateDir, "outbox", f), "utf8")).not.toContain(secret);
    await ctl.close();
    await w.close();
  });
});
