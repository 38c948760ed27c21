import { describe, expect, it } from "vitest";
import { classifyCopyFailure, copyFromArgs } from "./substituter.js";

// stderr texts of Nix 2.8's `nix copy --from`, as observed offline.
describe("classifying nix copy --from failures", () => {
  it("tells untrusted, missing and unreachable apart", () => {
    const f = (stderr: string, timedOut = false) => classifyCopyFailure({ stderr, timedOut });
    expect(f("copying 1 paths...\nerror: cannot add path '/nix/store/x-a' because it lacks a valid signature")).toBe("untrusted");
    expect(f("error: path '/nix/store/x-a' is required, but there is no substituter that can build it")).toBe("missing");
    expect(f("error: unable to download 'http://127.0.0.1:9/nix-cache-info': Couldn't connect to server (7)")).toBe("unreachable");
    expect(f("", true)).toBe("unreachable");
  });

  it("always asks nix to require signatures by the fleet's cache keys", () => {
    const a = copyFromArgs("http://c", ["k1:AAA=", "k2:BBB="], "/nix/store/x-a");
    expect(a.slice(0, 3)).toEqual(["copy", "--from", "http://c"]);
    expect(a.join(" ")).toContain("--option require-sigs true --option trusted-public-keys k1:AAA= k2:BBB=");
    expect(a.at(-1)).toBe("/nix/store/x-a");
  });
});
