// kill -9 of the *built* agent in every phase (fetch, build, activate, verify,
// rollback, finish), at pause points and at random moments inside slow
// steps; the process group dies as under systemd. Each next start must
// converge to a verified generation: the profile, the running system and the
// state file agree, and the host is healthy.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { buildAgent, waitFor, World } from "./agent/helpers.js";

const MARKERS = ["fail-build", "slow-build", "fail-switch", "slow-switch", "unhealthy"] as const;
type Marker = (typeof MARKERS)[number];

let w: World;
let kills = 0;
const log: string[] = [];

beforeAll(async () => {
  await buildAgent();
  w = await World.create();
  await w.commit({ "fleet.yaml": w.fleet() }, "c0");
  const r = await w.once();
  expect(r.code, r.err).toBe(0);
}, 180_000);

afterAll(async () => {
  await w?.close();
  await cleanupTempDirs();
  console.log(`kill -9 count: ${kills}\n${log.join("\n")}`);
});

/** Commits a new revision with exactly these markers for the host. */
async function revision(markers: Partial<Record<Marker, string>>, note: string): Promise<string> {
  const files: Record<string, string | null> = { "notes.txt": `${note} ${Date.now()}\n` };
  for (const m of MARKERS) files[`markers/${w.host}/${m}`] = markers[m] ?? null;
  return w.commit(files, note);
}

async function phase(): Promise<string | null> {
  try {
    return (await w.state()).cycle.phase;
  } catch {
    return null;
  }
}

/** Runs the built agent and kills its process group with SIGKILL at a pause point or inside a phase. */
async function killAgent(how: { pause: string } | { inPhase: string; afterMs: number } | { afterMs: number }, label: string): Promise<void> {
  const pauseFile = join(w.root, "pause");
  rmSync(pauseFile, { force: true });
  const env: Record<string, string> = "pause" in how ? { FLOTILLA_AGENT_TEST_PAUSE: how.pause, FLOTILLA_AGENT_TEST_PAUSE_FILE: pauseFile } : {};
  const child = w.spawnBuilt(["once"], env);
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  let early: number | null | undefined;
  void exited.then((c) => (early = c));
  if ("pause" in how) {
    await waitFor(`pause in ${how.pause}`, () => existsSync(pauseFile) || early !== undefined, 120_000);
  } else if ("inPhase" in how) {
    await waitFor(`phase ${how.inPhase}`, async () => (await phase()) === how.inPhase || early !== undefined, 120_000, 10);
    await new Promise((r) => setTimeout(r, how.afterMs));
  } else {
    await new Promise((r) => setTimeout(r, how.afterMs));
  }
  if (early !== undefined) throw new Error(`agent exited (${early}) before the kill point ${label}:\n${child.output()}`);
  const at = await phase();
  process.kill(-child.pid!, "SIGKILL");
  await exited;
  kills++;
  log.push(`kill #${kills} ${label}: state file said ${at}`);
  rmSync(pauseFile, { force: true });
}

/** The next start converges: resting phase, profile = running system = state's current, healthy. */
async function converges(expected: { rev: string; phase: "done" | "rolledBack" }): Promise<void> {
  const r = await w.once();
  const s = await w.state();
  expect(s.cycle.phase, r.err).toBe(expected.phase);
  expect(s.current?.rev).toBe(expected.rev);
  const active = await w.activeGeneration();
  expect(active).toBe(s.current?.generation);
  expect(active).toBe(await w.build(expected.rev));
  const host = await w.hostState();
  expect(host.currentSystem).toBe(active);
  expect(host.health).toBe("ok");
  expect(r.code).toBe(expected.phase === "done" ? 0 : 1);
}

describe("kill -9 of the agent in each phase", () => {
  it("fetch: killed right after start and at the fetched pause → deploys the target", async () => {
    const t = await revision({}, "fetch-1");
    await killAgent({ afterMs: 60 }, "early, during the poll/fetch");
    await killAgent({ pause: "fetched" }, "pause at fetched");
    await converges({ rev: t, phase: "done" });
  });

  it("build: killed inside a slow build and at the built pause → deploys the target", async () => {
    const t = await revision({ "slow-build": "3" }, "build-1");
    await killAgent({ inPhase: "fetched", afterMs: 700 }, "inside nix build (slow-build)");
    await killAgent({ pause: "built" }, "pause at built");
    await converges({ rev: t, phase: "done" });
  });

  it("activate: killed before and inside the switch → rolls back to the recorded path, then deploys the target", async () => {
    const t = await revision({}, "activate-1");
    await killAgent({ pause: "activating" }, "pause at activating (state saved, before the switch)");
    await converges({ rev: t, phase: "done" });
    const t2 = await revision({ "slow-switch": "2" }, "activate-2");
    await killAgent({ inPhase: "activating", afterMs: 600 }, "inside switch-to-configuration (slow-switch)");
    const calls = (await w.calls()).filter((c) => c.revision === t2);
    expect(calls).toEqual([]); // the switch never completed
    await converges({ rev: t2, phase: "done" });
  });

  it("verify: killed at the verifying pause and inside failing checks → re-verifies, or rolls back", async () => {
    const t = await revision({}, "verify-1");
    await killAgent({ pause: "verifying" }, "pause at verifying");
    await converges({ rev: t, phase: "done" });
    const bad = await revision({ unhealthy: "" }, "verify-2");
    await killAgent({ inPhase: "verifying", afterMs: 300 }, "inside failing health checks");
    expect((await w.hostState()).health).toBe("bad"); // left on an unverified generation by the crash…
    await converges({ rev: t, phase: "rolledBack" }); // …and the next start rolls it back
    expect((await w.state()).failedRevs.map((f) => f.rev)).toContain(bad);
  });

  it("rollback: killed at the rollingBack pause and inside a slow rollback → the rollback completes", async () => {
    const prev = await revision({ "slow-switch": "2" }, "rollback-prev");
    await converges({ rev: prev, phase: "done" });
    await revision({ "fail-switch": "" }, "rollback-1");
    await killAgent({ pause: "rollingBack" }, "pause at rollingBack");
    await converges({ rev: prev, phase: "rolledBack" });
    await revision({ "fail-switch": "" }, "rollback-2");
    await killAgent({ inPhase: "rollingBack", afterMs: 700 }, "inside the previous generation's slow switch (rollback)");
    await converges({ rev: prev, phase: "rolledBack" });
  });

  it("finish and random moments: killed at the done pause and at random times in a slow deploy → converges", async () => {
    const t = await revision({}, "finish-1");
    await killAgent({ pause: "done" }, "pause at done (finishing step pending)");
    await converges({ rev: t, phase: "done" });
    for (let i = 0; i < 3; i++) {
      const r = await revision({ "slow-build": "1", "slow-switch": "1" }, `random-${i}`);
      await killAgent({ afterMs: 300 + Math.floor(Math.random() * 2500) }, `random moment ${i}`);
      await converges({ rev: r, phase: "done" });
    }
    expect(kills).toBeGreaterThanOrEqual(10);
  });
});
