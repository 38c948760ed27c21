import { describe, expect, it } from "vitest";
import { FleetFile } from "../../../schemas/src/fleet.js";
import { normalizeFleet } from "./normalize.js";

const KEYS = [
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICdpWU2phnYb6Q9MqTH31upT86g0EnS0EEjm0c5PwUvs",
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMB2fDEwaT2U8AditqpcM/q5Sk+H/Qmnqp9cO4K+YCEp",
];
const hosts = [
  { name: "db-1", kind: "nixos", hostKey: KEYS[0], tags: ["db"] },
  { name: "web-1", kind: "nixos", hostKey: KEYS[1], tags: ["db"] },
];
const w = (from: string) => ({ timeZone: "UTC", ranges: [{ from, to: "05:00" }] });

describe("windows and reboot policy, normalised", () => {
  it("an exact host name beats a tag, which beats the wave's window; hosts without one have none", () => {
    const file = FleetFile.parse({
      version: 1,
      hosts,
      waves: [{ name: "all", members: ["db-1", "web-1"], window: w("01:00") }],
      windows: [
        { on: ["web-1"], ...w("03:00") },
        { on: ["tag:db"], ...w("02:00") },
      ],
    });
    const { fleet, issues } = normalizeFleet(file);
    expect(issues).toEqual([]);
    expect(fleet!.hosts.map((h) => [h.name, h.window?.source, h.window?.ranges[0]?.fromMin])).toEqual([
      ["db-1", "windows[1]", 120],
      ["web-1", "windows[0]", 180],
    ]);
    expect(fleet!.waves[0]!.window?.source).toBe('wave "all"');
    expect(fleet!.reboot).toBeUndefined();
    const plain = normalizeFleet(FleetFile.parse({ version: 1, hosts })).fleet!;
    expect(plain.hosts.map((h) => h.window)).toEqual([undefined, undefined]);
  });

  it("reboot: fleet policy with per-host overrides, maxConcurrent and timeout defaults", () => {
    const file = FleetFile.parse({ version: 1, hosts, reboot: { policy: "auto", overrides: [{ on: ["web-1"], policy: "never" }] } });
    expect(normalizeFleet(file).fleet!.reboot).toEqual({ auto: ["db-1"], maxConcurrent: 1, timeoutMs: 900_000 });
  });
});
