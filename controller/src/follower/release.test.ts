import { describe, expect, it } from "vitest";
import { redactBuildError, MAX_BUILD_ERROR } from "../build/controller-builder.js";
import { briefBuildError, withBuild, type ReleaseView } from "./release.js";

const missing: ReleaseView = { state: "missing", hosts: [], reason: "no release manifest under refs/flotilla/releases/x" };
const built: ReleaseView = { state: "built", hosts: ["canary-1"] };

describe("the controller builder's state in the release view", () => {
  it("a verified release always wins; otherwise building / failed / cancelled say what the builder does", () => {
    expect(withBuild(built, { state: "failed", error: "boom" }, 0)).toBe(built);
    expect(withBuild(missing, undefined, 0)).toBe(missing);
    expect(withBuild(missing, { state: "building", progress: "1/3 hosts, building web-1", startedMs: 1_000 }, 13_400)).toEqual({ state: "building", hosts: [], reason: "building since 12s: 1/3 hosts, building web-1" });
    expect(withBuild({ state: "untrusted", hosts: [], reason: "stranger" }, { state: "failed", error: "host a: nix build failed" }, 0)).toEqual({ state: "failed", hosts: [], reason: "host a: nix build failed" });
    expect(withBuild(missing, { state: "cancelled", reason: "superseded by abc" }, 0)).toEqual({ ...missing, reason: "the controller's build was cancelled (superseded by abc)" });
    expect(withBuild({ state: "untrusted", hosts: [], reason: "x" }, { state: "cancelled", reason: "y" }, 0)).toEqual({ state: "untrusted", hosts: [], reason: "x" });
  });

  it("errors: credentials in URLs redacted, escape sequences dropped, capped; one line for short places", () => {
    const e = redactBuildError("host web-1: nix copy --to https://ci:hunter2@cache.example.org failed (exit 1):\n\x1b[31;1merror:\x1b[0m cannot connect\r");
    expect(e).toBe("host web-1: nix copy --to https://***@cache.example.org failed (exit 1):\nerror: cannot connect");
    expect(redactBuildError("x".repeat(5000))).toHaveLength(MAX_BUILD_ERROR);
    expect(briefBuildError(e)).toBe("web-1: error: cannot connect");
    expect(briefBuildError("fleet file unusable")).toBe("fleet file unusable");
  });
});
