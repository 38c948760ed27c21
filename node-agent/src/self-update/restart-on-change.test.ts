import { mkdtemp, rm, symlink, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { watchOwnRestartInputs } from "./restart-on-change.js";

let dir = "";
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("restart-on-change fingerprint", () => {
  it("is off without FLOTILLA_AGENT_UNIT_FILE", async () => {
    expect(await watchOwnRestartInputs({}, "/nonexistent")).toBeNull();
  });

  it("names the unit, config or package that changed since start", async () => {
    dir = await mkdtemp(join(tmpdir(), "flotilla-fp-"));
    const unit = join(dir, "flotilla-agent.service");
    const config = join(dir, "agent.yaml");
    const profile = join(dir, "profile");
    await mkdir(join(dir, "pkg-a"));
    await mkdir(join(dir, "pkg-b"));
    await writeFile(unit, "[Service]\nExecStart=a\n");
    await writeFile(config, "host: a\n");
    await symlink(join(dir, "pkg-a"), profile);
    const w = (await watchOwnRestartInputs({ FLOTILLA_AGENT_UNIT_FILE: unit, FLOTILLA_AGENT_PROFILE: profile }, config))!;
    expect(await w.check()).toEqual([]);
    await writeFile(unit, "[Service]\nExecStart=b\n");
    expect(await w.check()).toEqual(["unit"]);
    await writeFile(config, "host: b\n");
    await rm(profile);
    await symlink(join(dir, "pkg-b"), profile);
    expect(await w.check()).toEqual(["unit", "config", "package"]);
  });
});
