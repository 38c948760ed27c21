import { describe, expect, it } from "vitest";
import type { FleetIssue } from "./model.js";
import { deliveryMode, normalizeDelivery } from "./delivery.js";

const hosts = [
  { name: "canary-1", tags: ["web"] },
  { name: "web-1", tags: ["web"] },
  { name: "db-1", tags: [] },
];
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMB2fDEwaT2U8AditqpcM/q5Sk+H/Qmnqp9cO4K+YCEp ci";
const caches = [{ url: "http://cache:8080/", publicKey: "c-1:Hr3ZGgs5n6hY5m1fDmNPpVwSEeEU3KkB1vFq2o2mGkE=" }];

function run(d: Parameters<typeof normalizeDelivery>[0]) {
  const issues: FleetIssue[] = [];
  const spec = normalizeDelivery(d, hosts, (path, message) => issues.push({ severity: "error", path, message }));
  return { spec, issues };
}

describe("delivery", () => {
  it("defaults every host to build", () => {
    const { spec, issues } = run(undefined);
    expect(issues).toEqual([]);
    expect(deliveryMode(spec, "db-1")).toBe("build");
    expect(deliveryMode(undefined, "db-1")).toBe("build");
  });

  it("resolves default < tag/glob < exact host, and trims cache URLs", () => {
    const { spec, issues } = run({
      mode: "substitute",
      caches,
      builders: [{ name: "ci", key: KEY }],
      wait: "30s",
      overrides: [
        { on: ["canary-1"], mode: "build" },
        { on: ["tag:web"], mode: "substitute-or-build" },
      ],
    });
    expect(issues).toEqual([]);
    expect(spec.modes).toEqual({ "canary-1": "build", "web-1": "substitute-or-build", "db-1": "substitute" });
    expect(spec.waitMs).toBe(30_000);
    expect(spec.caches[0]!.url).toBe("http://cache:8080");
  });

  it("reports ambiguous overrides, selectors matching nothing, and substituting without caches or builders", () => {
    const { issues } = run({ overrides: [{ on: ["tag:web"], mode: "substitute" }, { on: ["web-*", "nope"], mode: "build" }] });
    expect(issues.map((i) => i.path.join("."))).toEqual(["delivery.overrides.1.on.0", "delivery.overrides.1.on.1", "delivery.caches", "delivery.builders"]);
  });
});
