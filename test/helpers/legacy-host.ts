// A legacy host's spec as the fleet loader gives it, for the agent's adapter unit tests.
import type { LegacyHostSpec } from "../../common/src/fleet/model.js";

export function legacyHostSpec(o: { projectDir: string; app?: string; envFiles?: string[] }): LegacyHostSpec {
  return {
    name: "legacy-1",
    kind: "legacy",
    hostKey: "",
    tags: [],
    checks: [],
    hooks: {},
    wave: "rest",
    waveIndex: 0,
    user: "deploy",
    app: o.app ?? "build-legacy",
    projectDir: o.projectDir,
    envFiles: o.envFiles ?? [".env.production", ".env.local"],
  };
}
