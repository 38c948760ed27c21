// The state file's atomic writes on a real, really full file system: a 64 KiB
// tmpfs mounted for the test (the tests run as root), filled until ENOSPC.
// No temp file may be left behind, by a failed write or by a writer killed
// mid-write (cleaned at the next start).
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir } from "../../../test/helpers/tmp.js";
import { initialState } from "../loop/phases.js";
import { FileStateStore, removeStaleTemps, writeFileAtomic } from "./state-file.js";

let dir: string;

beforeAll(async () => {
  dir = await makeTempDir("flotilla-state-file-");
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]);
});

afterAll(() => {
  spawnSync("umount", [dir]);
});

describe("writeFileAtomic on a full disk", () => {
  it("fails with ENOSPC and leaves no temp file; the old file is intact", async () => {
    const store = new FileStateStore(dir);
    const state = initialState("h1", new Date(0).toISOString());
    await store.save(state);
    // Fill the file system, leaving less than one state file of room.
    let i = 0;
    try {
      for (;;) writeFileSync(join(dir, `fill-${i++}`), Buffer.alloc(4096));
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toBe("ENOSPC");
    }
    const big = { ...state, failedRevs: Array.from({ length: 200 }, (_, n) => ({ rev: String(n).padStart(40, "0"), reason: "BuildFailed", time: state.updatedAt })) };
    await expect(store.save(big)).rejects.toMatchObject({ code: "ENOSPC" });
    await expect(writeFileAtomic(join(dir, "other.json"), "x".repeat(20_000))).rejects.toMatchObject({ code: "ENOSPC" });
    expect(readdirSync(dir).filter((n) => n.includes(".tmp-"))).toEqual([]);
    expect(await store.load()).toEqual(state);
    for (const n of readdirSync(dir)) if (n.startsWith("fill-")) execFileSync("rm", ["-f", join(dir, n)]);
  });

  it("removes temp files of writers that died (kill -9 mid-write) and keeps a live writer's", async () => {
    const dead = spawnSync("true").pid!; // a pid that has exited
    writeFileSync(join(dir, `state.json.tmp-${dead}-1`), "{");
    writeFileSync(join(dir, `state.json.tmp-${process.pid}-99`), "{");
    writeFileSync(join(dir, "not-a-temp.json"), "{}");
    await new FileStateStore(dir).load(); // the agent's start
    const left = readdirSync(dir);
    expect(left).not.toContain(`state.json.tmp-${dead}-1`);
    expect(left).toContain(`state.json.tmp-${process.pid}-99`);
    expect(left).toContain("not-a-temp.json");
    expect(await removeStaleTemps(join(dir, "missing"))).toBe(0);
  });

  it("reads a version-1 state file as version 2, and refuses a version it does not know", async () => {
    const store = new FileStateStore(dir);
    const v1 = { ...initialState("h1", new Date(0).toISOString()), version: 1 };
    writeFileSync(join(dir, "state.json"), JSON.stringify(v1));
    expect(await store.load()).toEqual({ ...v1, version: 2 });
    writeFileSync(join(dir, "state.json"), JSON.stringify({ ...v1, version: 3 }));
    await expect(store.load()).rejects.toThrow(/unknown format \(version 3; this agent reads versions 1, 2\)/);
  });
});
