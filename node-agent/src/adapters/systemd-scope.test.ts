import { describe, expect, it } from "vitest";
import type { HostSpec } from "../../../common/src/fleet/model.js";
import { absentUnits, restartInvocations, scopeArgs } from "./systemd-scope.js";

const base = { hostKey: "ssh-ed25519 AAAA", tags: [], checks: [], hooks: {} } as unknown as Omit<HostSpec, "kind" | "name">;
const legacy = { ...base, name: "legacy-1", kind: "legacy", user: "deploy", app: "build-legacy", projectDir: "/home/deploy/app", envFiles: [] } as unknown as HostSpec;
const nixos = { ...base, name: "web-1", kind: "nixos", attribute: "x", operation: "switch" } as unknown as HostSpec;
const root = { uid: 0, user: "root" };
const deploy = { uid: 1000, user: "deploy" };

describe("systemd scope of restartUnits and user checks", () => {
  it("restarts a legacy host's units in the deploy user's manager, a NixOS host's in the system manager", () => {
    const secrets = [{ hosts: ["legacy-1", "web-1"], restartUnits: ["webapp.service"] }];
    expect(restartInvocations(["webapp.service"], secrets, legacy, deploy)).toEqual([["--user", "restart", "webapp.service"]]);
    expect(restartInvocations(["webapp.service"], secrets, legacy, root)).toEqual([["--user", "--machine=deploy@", "restart", "webapp.service"]]);
    expect(restartInvocations(["webapp.service"], secrets, nixos, root)).toEqual([["restart", "webapp.service"]]);
  });

  it("follows restartUnitsScope when the fleet says, and splits units by scope", () => {
    const secrets = [
      { hosts: ["legacy-1"], restartUnits: ["webapp.service"] },
      { hosts: ["legacy-1"], restartUnits: ["nginx.service"], restartUnitsScope: "system" as const },
    ];
    expect(restartInvocations(["webapp.service", "nginx.service"], secrets, legacy, deploy)).toEqual([
      ["restart", "nginx.service"],
      ["--user", "restart", "webapp.service"],
    ]);
  });

  it("reaches a user manager directly as that user and through --machine otherwise", () => {
    expect(scopeArgs("user", legacy, deploy)).toEqual(["--user"]);
    expect(scopeArgs("user", legacy, root)).toEqual(["--user", "--machine=deploy@"]);
    expect(scopeArgs("system", legacy, deploy)).toEqual([]);
    expect(scopeArgs("user", nixos, root)).toEqual(["--user"]);
  });
});

describe("units a restart can skip: not loaded in the manager (a first deploy whose switch installs them)", () => {
  it("reads `systemctl show --property=LoadState` blocks in argument order", () => {
    const out = "LoadState=loaded\n\nLoadState=not-found\n\nLoadState=loaded\n";
    expect(absentUnits(["a.service", "b.service", "c.service"], out)).toEqual(["b.service"]);
  });

  it("skips nothing when the answer is not one block per unit (a stand-in systemctl, an old systemd)", () => {
    expect(absentUnits(["a.service", "b.service"], "")).toEqual([]);
    expect(absentUnits(["a.service", "b.service"], "LoadState=not-found\n")).toEqual([]);
    expect(absentUnits(["a.service"], "garbage\n")).toEqual([]);
  });
});
