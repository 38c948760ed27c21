import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isoOf, msOf } from "./time.js";

describe("report timestamps", () => {
  it("formats and parses like Date", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        expect(isoOf(ms)).toBe(new Date(ms).toISOString());
        expect(msOf(isoOf(ms))).toBe(ms);
      }),
      { numRuns: 2000 },
    );
    expect(msOf("2026-01-01T01:00:00+01:00")).toBe(Date.parse("2026-01-01T00:00:00Z"));
  });
});
