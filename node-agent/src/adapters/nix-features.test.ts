import { describe, expect, it } from "vitest";
import { FLAKE_FEATURES_LINE, withFlakeFeatures } from "./nix-features.js";

describe("flakes for the agent's nix calls", () => {
  it("adds the features to NIX_CONFIG, keeping what is there, once", () => {
    expect(withFlakeFeatures({ PATH: "/bin" })).toEqual({ PATH: "/bin", NIX_CONFIG: FLAKE_FEATURES_LINE });
    const env = withFlakeFeatures({ NIX_CONFIG: "substituters =" });
    expect(env.NIX_CONFIG).toBe(`substituters =\n${FLAKE_FEATURES_LINE}`);
    expect(withFlakeFeatures(env)).toBe(env);
  });
});
