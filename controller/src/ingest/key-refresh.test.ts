import { describe, expect, it } from "vitest";
import type { Fleet } from "../../../common/src/fleet/model.js";
import { KeyRefresh } from "./key-refresh.js";

/** An in-memory fleet view: poke() "fetches" by moving to the next fleet. */
function view(keys: string[]) {
  let i = 0;
  const fleetWith = (hostKey: string) => ({ hosts: [{ name: "web-1", hostKey }] }) as unknown as Fleet;
  const v = {
    pokes: 0,
    current: fleetWith(keys[0]!),
    currentFleet: () => v.current,
    poke: async () => {
      v.pokes++;
      i = Math.min(i + 1, keys.length - 1);
      v.current = fleetWith(keys[i]!);
    },
  };
  return v;
}

describe("KeyRefresh", () => {
  it("fetches once and answers the host's new key, or null when the key did not change or the host is unknown", async () => {
    let now = 0;
    const v = view(["old", "new"]);
    const r = new KeyRefresh({ fleet: v, now: () => now });
    expect(await r.newerKey("web-1", "old")).toBe("new");
    expect(v.pokes).toBe(1);
    now += 5_000;
    expect(await r.newerKey("web-1", "new")).toBeNull();
    now += 5_000;
    expect(await r.newerKey("db-1", "new")).toBeNull();
  });

  it("fetches at most once per interval, whatever the number of bad signatures", async () => {
    let now = 0;
    const v = view(["old", "old", "old"]);
    const r = new KeyRefresh({ fleet: v, now: () => now, minIntervalMs: 1_000 });
    for (let i = 0; i < 50; i++) await r.newerKey("web-1", "old");
    expect(v.pokes).toBe(1);
    now += 1_000;
    await r.newerKey("web-1", "old");
    expect(v.pokes).toBe(2);
  });

  it("does not wait longer than waitMs for a slow fetch", async () => {
    const v = { currentFleet: () => null, poke: () => new Promise<void>(() => undefined) };
    const r = new KeyRefresh({ fleet: v, now: () => 0, waitMs: 50 });
    expect(await r.newerKey("web-1", "old")).toBeNull();
  });
});
