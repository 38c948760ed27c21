import { describe, expect, it } from "vitest";
import { nextMatch, parseCron } from "./cron.js";

const spec = (e: string) => {
  const r = parseCron(e);
  if (!r.ok) throw new Error(r.error);
  return r.spec;
};
// Local time, as the agent's schedule is.
const at = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s);

describe("parseCron", () => {
  it("accepts 5 and 6 fields, ranges, steps, lists and names", () => {
    for (const e of ["0 4 * * *", "30 4 * * *", "*/15 * * * *", "0 0 1,15 * *", "0 9-17/2 * * mon-fri", "0 0 * JAN,jul sun", "* * * * * *", "5/15 * * * *", "0 0 * * 7"]) {
      expect(parseCron(e).ok, e).toBe(true);
    }
  });
  it("rejects what is not cron, naming the field", () => {
    expect(parseCron("")).toEqual({ ok: false, error: "expected 5 or 6 fields, got 0" });
    expect(parseCron("0 4 * *")).toEqual({ ok: false, error: "expected 5 or 6 fields, got 4" });
    expect(parseCron("61 * * * *")).toMatchObject({ ok: false, error: "minute 61 is outside 0-59" });
    expect(parseCron("0 24 * * *")).toMatchObject({ ok: false, error: "hour 24 is outside 0-23" });
    expect(parseCron("0 0 0 * *")).toMatchObject({ ok: false, error: "day of month 0 is outside 1-31" });
    expect(parseCron("0 0 * foo *").ok).toBe(false);
    expect(parseCron("0 0 * * 5-1")).toMatchObject({ ok: false, error: "day of week: range 5-1 runs backwards" });
    expect(parseCron("*/0 * * * *").ok).toBe(false);
    expect(parseCron("@daily").ok).toBe(false);
  });
});

describe("nextMatch", () => {
  it("finds the next minute, hour and day in local time", () => {
    expect(nextMatch(spec("30 4 * * *"), at(2026, 3, 10, 4, 29, 59))).toEqual(at(2026, 3, 10, 4, 30));
    expect(nextMatch(spec("30 4 * * *"), at(2026, 3, 10, 4, 30))).toEqual(at(2026, 3, 11, 4, 30));
    expect(nextMatch(spec("*/15 * * * *"), at(2026, 3, 10, 23, 50))).toEqual(at(2026, 3, 11, 0, 0));
    expect(nextMatch(spec("* * * * * *"), at(2026, 3, 10, 1, 2, 3))).toEqual(at(2026, 3, 10, 1, 2, 4));
    expect(nextMatch(spec("0 0 1 1 *"), at(2026, 6, 1))).toEqual(at(2027, 1, 1));
  });
  it("weekdays: 0 and 7 are Sunday; day-of-month and day-of-week restricted together match either", () => {
    // 2026-03-10 is a Tuesday.
    expect(nextMatch(spec("0 9 * * mon-fri"), at(2026, 3, 13, 10))).toEqual(at(2026, 3, 16, 9));
    expect(nextMatch(spec("0 0 * * 7"), at(2026, 3, 10))).toEqual(at(2026, 3, 15));
    expect(nextMatch(spec("0 0 13 * fri"), at(2026, 3, 10))).toEqual(at(2026, 3, 13));
    expect(nextMatch(spec("0 0 20 * fri"), at(2026, 3, 10))).toEqual(at(2026, 3, 13));
  });
  it("returns null when the expression never matches", () => {
    expect(nextMatch(spec("0 0 31 2 *"), at(2026, 1, 1))).toBeNull();
  });
});
