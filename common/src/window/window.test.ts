import { describe, expect, it } from "vitest";
import { isOpen, isTimeZone, windowReason, windowState, type WindowSpec } from "./window.js";

const at = (iso: string) => Date.parse(iso);
const win = (timeZone: string, ranges: { days?: number[]; from: string; to: string }[]): WindowSpec => ({
  timeZone,
  source: "test",
  ranges: ranges.map((r) => {
    const min = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3));
    return { days: r.days ?? [1, 2, 3, 4, 5, 6, 7], fromMin: min(r.from), toMin: min(r.to) };
  }),
});
const next = (w: WindowSpec, iso: string) => {
  const s = windowState(w, at(iso));
  return s.open ? "open" : s.nextOpenMs === null ? null : new Date(s.nextOpenMs).toISOString();
};

describe("maintenance windows", () => {
  const office = win("UTC", [{ days: [1, 2, 3, 4, 5], from: "09:00", to: "17:00" }]);

  it("is open inside a weekday range and names the next opening outside it", () => {
    expect(next(office, "2026-12-02T10:00:00Z")).toBe("open"); // Wednesday
    expect(next(office, "2026-12-02T17:00:00Z")).toBe("2026-12-03T09:00:00.000Z"); // `to` is exclusive
    expect(next(office, "2026-12-05T12:00:00Z")).toBe("2026-12-07T09:00:00.000Z"); // Saturday → Monday
    expect(next(office, "2026-12-07T08:59:59Z")).toBe("2026-12-07T09:00:00.000Z");
    expect(isOpen(office, at("2026-12-07T09:00:00Z"))).toBe(true);
  });

  it("crosses midnight: a Friday 22:00–04:00 range is open early Saturday, not early Friday", () => {
    const night = win("UTC", [{ days: [5], from: "22:00", to: "04:00" }]);
    expect(next(night, "2026-12-05T03:59:00Z")).toBe("open"); // Saturday 03:59
    expect(next(night, "2026-12-05T04:00:00Z")).toBe("2026-12-11T22:00:00.000Z");
    expect(next(night, "2026-12-04T03:00:00Z")).toBe("2026-12-04T22:00:00.000Z"); // Friday 03:00: Thursday is not a start day
  });

  it("reads the range on the zone's wall clock, including its offset", () => {
    const ny = win("America/New_York", [{ days: [3], from: "01:00", to: "24:00" }]);
    expect(next(ny, "2026-12-02T05:30:00Z")).toBe("2026-12-02T06:00:00.000Z"); // 00:30 EST → 01:00 EST
    expect(next(ny, "2026-12-03T04:59:00Z")).toBe("open"); // 23:59 EST Wednesday
    expect(next(ny, "2026-12-03T05:00:00Z")).toBe("2026-12-09T06:00:00.000Z"); // "24:00" closes at midnight
  });

  it("DST gap: a range starting in the skipped hour opens at the jump; one inside it does not open that day", () => {
    // Europe/Berlin, 2026-03-29: 02:00 CET (01:00Z) jumps to 03:00 CEST.
    const startsInGap = win("Europe/Berlin", [{ days: [7], from: "02:30", to: "04:00" }]);
    expect(next(startsInGap, "2026-03-29T00:30:00Z")).toBe("2026-03-29T01:00:00.000Z");
    expect(next(startsInGap, "2026-03-29T01:00:00Z")).toBe("open"); // 03:00 CEST
    expect(next(startsInGap, "2026-03-29T02:00:00Z")).toBe("2026-04-05T00:30:00.000Z"); // 04:00 CEST closed; next Sunday 02:30 CEST
    const insideGap = win("Europe/Berlin", [{ days: [7], from: "02:00", to: "02:30" }]);
    expect(next(insideGap, "2026-03-28T12:00:00Z")).toBe("2026-04-05T00:00:00.000Z");
  });

  it("DST overlap: a range over the repeated hour is open during both passes", () => {
    // Europe/Berlin, 2026-10-25: 03:00 CEST (01:00Z) goes back to 02:00 CET.
    const w = win("Europe/Berlin", [{ days: [7], from: "02:00", to: "02:30" }]);
    expect(next(w, "2026-10-24T23:00:00Z")).toBe("2026-10-25T00:00:00.000Z"); // first 02:00 (CEST)
    expect(next(w, "2026-10-25T00:15:00Z")).toBe("open");
    expect(next(w, "2026-10-25T00:45:00Z")).toBe("2026-10-25T01:00:00.000Z"); // second 02:00 (CET)
    expect(next(w, "2026-10-25T01:15:00Z")).toBe("open");
    expect(next(w, "2026-10-25T01:30:00Z")).toBe("2026-11-01T01:00:00.000Z");
  });

  it("is open while any range is, and says when it opens", () => {
    const two = win("UTC", [
      { days: [6], from: "10:00", to: "11:00" },
      { days: [6], from: "10:30", to: "12:00" },
    ]);
    expect(next(two, "2026-12-05T11:30:00Z")).toBe("open");
    const closed = windowState(office, at("2026-12-05T12:00:00Z"));
    expect(windowReason(office, closed)).toBe("outside its maintenance window (test); opens at 2026-12-07T09:00:00.000Z (Mon, 07/12/2026, 09:00 UTC)");
  });

  it("knows which time zone names exist", () => {
    expect(isTimeZone("Europe/Berlin")).toBe(true);
    expect(isTimeZone("UTC")).toBe(true);
    expect(isTimeZone("Mars/Olympus_Mons")).toBe(false);
  });
});
