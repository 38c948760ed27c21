import { describe, expect, it } from "vitest";
import { loadFleetText } from "../fleet/load.js";
import type { Fleet } from "../fleet/model.js";
import { diffFleets, formatFleetDiff } from "./diff.js";
import { planRollout } from "./plan.js";

const KEYS = [
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICdpWU2phnYb6Q9MqTH31upT86g0EnS0EEjm0c5PwUvs",
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMB2fDEwaT2U8AditqpcM/q5Sk+H/Qmnqp9cO4K+YCEp",
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKG+9/Nnz8pGhzKwd2ss+Bw2a+qha7ukjeERppQvoQgy",
  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINtm+bIa/OmWPv6hodFlpfWBIE+KdIgaE52GBQBzPxYO",
];
const REV = "a".repeat(40);
const PIN = "b".repeat(40);

async function fleet(yaml: string): Promise<Fleet> {
  const r = await loadFleetText(yaml, "fleet.yaml");
  if (!r.fleet) throw new Error(r.issues.map((i) => i.message).join("; "));
  return r.fleet;
}

const BASE = `version: 1
hosts:
  - { name: canary-1, kind: nixos, hostKey: "${KEYS[0]}", tags: [web] }
  - { name: web-1, kind: nixos, hostKey: "${KEYS[1]}", tags: [web] }
  - { name: db-1, kind: nixos, hostKey: "${KEYS[2]}", pin: "${PIN}" }
  - { name: shop, kind: legacy, user: deploy, hostKey: "${KEYS[3]}" }
waves:
  - { name: canary, members: [canary-1] }
  - { name: web, members: ["web-*"], soak: 5m }
checks:
  - on: ["tag:web"]
    checks: [{ type: http, url: "http://localhost/health" }]
secrets:
  - { name: db, sopsFile: secrets/db.yaml, hosts: [db-1] }
`;

describe("planRollout", () => {
  it("gives first-wave hosts the revision, later waves a gate and pinned hosts their pin", async () => {
    const plan = planRollout(await fleet(BASE), REV);
    expect(plan.waves.map((w) => [w.name, w.implicit])).toEqual([["canary", false], ["web", false], ["rest", true]]);
    const byHost = Object.fromEntries(plan.hosts.map((h) => [h.host, h]));
    expect(byHost["canary-1"]).toMatchObject({ wave: "canary", pinned: false, target: { kind: "now", rev: REV } });
    expect(byHost["web-1"]).toMatchObject({ wave: "web", target: { kind: "gated", rev: REV, afterWave: "canary" } });
    expect(byHost["web-1"]!.summary).toBe(`${REV.slice(0, 12)} once wave "canary" is healthy (gated by the controller)`);
    expect(byHost["shop"]).toMatchObject({ wave: "rest", kind: "legacy", target: { kind: "gated", afterWave: "web" } });
    expect(byHost["db-1"]).toMatchObject({ wave: "rest", pinned: true, target: { kind: "pinned", rev: PIN } });
    expect(plan.hosts.map((h) => h.host)).toEqual(["canary-1", "web-1", "db-1", "shop"]);
  });

  it("puts every host in the first wave when there are no waves", async () => {
    const plan = planRollout(await fleet(BASE.replace(/waves:\n(  - .*\n)+/, "")), REV);
    expect(plan.waves.map((w) => w.name)).toEqual(["rest"]);
    expect(plan.hosts.filter((h) => !h.pinned).every((h) => h.target.kind === "now")).toBe(true);
  });
});

describe("diffFleets", () => {
  it("is empty for the same fleet", async () => {
    const d = diffFleets(await fleet(BASE), await fleet(BASE));
    expect(d.empty).toBe(true);
    expect(formatFleetDiff(d)).toEqual([]);
  });

  it("names hosts, fields, waves, pins, checks, secrets and policy that changed", async () => {
    const after = BASE.replace(`pin: "${PIN}"`, `pin: "${"c".repeat(40)}"`)
      .replace(`  - { name: shop, kind: legacy, user: deploy, hostKey: "${KEYS[3]}" }\n`, `  - { name: shop, kind: legacy, user: ops, hostKey: "${KEYS[3]}" }\n  - { name: web-2, kind: nixos, hostKey: "${KEYS[0]!.replace("Cdp", "Cdq")}", tags: [web] }\n`)
      .replace("soak: 5m", "soak: 10m")
      .replace('url: "http://localhost/health"', 'url: "http://localhost/healthz"')
      .replace("hosts: [db-1] }", "hosts: [db-1, shop] }")
      .concat("policy:\n  branch: production\n");
    const d = diffFleets(await fleet(BASE), await fleet(after));
    expect(d.hosts.added).toEqual(["web-2"]);
    expect(d.hosts.removed).toEqual([]);
    expect(d.hosts.changed).toEqual([
      { name: "canary-1", fields: ["checks"] },
      { name: "web-1", fields: ["checks"] },
      { name: "db-1", fields: ["pin"] },
      { name: "shop", fields: ["projectDir", "user"] },
    ]);
    expect(d.waves.changed).toEqual([{ name: "web", fields: ["members", "soakMs"] }]);
    expect(d.pins).toEqual([{ host: "db-1", before: PIN, after: "c".repeat(40) }]);
    expect(d.checks.map((c) => c.host)).toEqual(["canary-1", "web-1", "web-2"]);
    expect(d.checks[0]).toEqual({ host: "canary-1", added: ["http:http://localhost/healthz"], removed: ["http:http://localhost/health"], changed: [] });
    expect(d.secrets.changed).toEqual([{ name: "db", fields: ["hosts"] }]);
    expect(d.policy).toEqual(["branch"]);
    expect(d.empty).toBe(false);
    const text = formatFleetDiff(d);
    expect(text).toContain("host added: web-2");
    expect(text).toContain(`pin moved: db-1 ${PIN} → ${"c".repeat(40)}`);
    expect(text).toContain("policy changed: branch");
  });

  it("reports removals, reordered waves and a removed pin", async () => {
    const after = BASE.replace(`  - { name: shop, kind: legacy, user: deploy, hostKey: "${KEYS[3]}" }\n`, "")
      .replace(`, pin: "${PIN}"`, "")
      .replace(/  - \{ name: canary.*\n  - \{ name: web,.*\n/, '  - { name: web, members: ["web-*"], soak: 5m }\n  - { name: canary, members: [canary-1] }\n');
    const d = diffFleets(await fleet(BASE), await fleet(after));
    expect(d.hosts.removed).toEqual(["shop"]);
    expect(d.pins).toEqual([{ host: "db-1", before: PIN }]);
    expect(d.waves.reordered).toBe(true);
    expect(formatFleetDiff(d)).toEqual(expect.arrayContaining(["host removed: shop", `pin removed: db-1 (was ${PIN})`, "waves reordered"]));
  });

  it("counts everything as added when there was no fleet.yaml", async () => {
    const d = diffFleets(undefined, await fleet(BASE));
    expect(d.created).toBe(true);
    expect(d.hosts.added).toEqual(["canary-1", "web-1", "db-1", "shop"]);
    expect(formatFleetDiff(d)[0]).toBe("fleet.yaml added by this commit");
  });
});
