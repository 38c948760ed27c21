import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { absoluteTime, isoOf, msOf, relativeIso, relativeTime } from "./time.js";

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

describe("one time style", () => {
  const now = Date.parse("2026-01-01T12:00:00.000Z");
  it("relative: one unit per magnitude, spelled the same way past and future", () => {
    expect(relativeTime(now, now)).toBe("now");
    expect(relativeTime(now - 400, now)).toBe("now");
    expect(relativeTime(now - 12_000, now)).toBe("12 s ago");
    expect(relativeTime(now + 20_000, now)).toBe("in 20 s");
    expect(relativeTime(now - 119_000, now)).toBe("119 s ago");
    expect(relativeTime(now - 180_000, now)).toBe("3 min ago");
    expect(relativeTime(now + 45 * 60_000, now)).toBe("in 45 min");
    expect(relativeTime(now - 5 * 3_600_000, now)).toBe("5 h ago");
    expect(relativeTime(now - 3 * 86_400_000, now)).toBe("3 d ago");
    expect(relativeIso(null, now)).toBe("never");
    expect(relativeIso("2026-01-01T11:59:30.250Z", now)).toBe("30 s ago");
  });

  it("absolute: UTC to the second, no milliseconds", () => {
    expect(absoluteTime(Date.parse("2026-01-01T12:00:05.987Z"))).toBe("2026-01-01 12:00:05Z");
    fc.assert(fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
      expect(absoluteTime(ms)).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/);
    }));
  });
});
