import { describe, expect, it } from "vitest";
import { defaultConfigPath, resolveConfig } from "./config.js";

describe("agent config", () => {
  it("fills in every default", async () => {
    const r = await resolveConfig({ host: "web-1", remotes: ["https://git.example.com/fleet.git"] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toMatchObject({
      branch: "main",
      stateDir: "/var/lib/flotilla",
      hostKeyPath: "/etc/ssh/ssh_host_ed25519_key",
      profile: "/nix/var/nix/profiles/system",
      activation: "nixos-rebuild",
      controller: null,
      commands: { git: "git", nix: "nix", nixEnv: "nix-env", nixosRebuild: "nixos-rebuild", systemctl: "systemctl", runAs: ["runuser", "-u", "{user}", "--"] },
      timeouts: { gitMs: 300_000, buildMs: 1_800_000, activateMs: 600_000, connectivityMs: 60_000 },
      queue: { maxEvents: 10_000, maxHeartbeats: 100 },
      pollIntervalMs: null,
    });
  });

  it("returns every problem at once, with its path", async () => {
    const r = await resolveConfig({ host: "Web_1", remotes: [], activation: "magic", timeouts: { git: "soon" } });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.join("\n")).toMatch(/^host: /m);
    expect(r.errors.join("\n")).toMatch(/^remotes: /m);
    expect(r.errors.join("\n")).toMatch(/^activation: /m);
    expect(r.errors.join("\n")).toMatch(/^timeouts\.git: /m);
  });

  it("bounds every duration (a 30-day heartbeat would overflow Node's timer and fire continuously)", async () => {
    const r = await resolveConfig({ host: "a", remotes: ["file:///srv/fleet"], heartbeatInterval: "30d", pollInterval: "25d" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual(["pollInterval: expected a duration of at most 1d", "heartbeatInterval: expected a duration of at most 1h"]);
  });

  it("applies cross-field rules after the schema", async () => {
    const r = await resolveConfig({ host: "a", remotes: ["file:///srv/fleet"], stateDir: "relative/dir", timeouts: { connectivity: "0" } });
    expect(r).toEqual({ ok: false, errors: ["stateDir: expected an absolute path", "timeouts.connectivity: must be greater than 0"] });
  });
});

describe("defaultConfigPath (no --config)", () => {
  const has = (...paths: string[]) => (p: string) => paths.includes(p);
  it("is /etc/flotilla/agent.yaml for root, and whenever that file exists", () => {
    expect(defaultConfigPath({ HOME: "/root" }, 0, has("/root/.config/flotilla/agent.yaml"))).toBe("/etc/flotilla/agent.yaml");
    expect(defaultConfigPath({ HOME: "/home/deploy" }, 1000, has("/etc/flotilla/agent.yaml", "/home/deploy/.config/flotilla/agent.yaml"))).toBe("/etc/flotilla/agent.yaml");
  });
  it("is the user's own ~/.config/flotilla/agent.yaml (install-legacy-agent's) for another user without /etc's", () => {
    expect(defaultConfigPath({ HOME: "/home/deploy" }, 1000, has("/home/deploy/.config/flotilla/agent.yaml"))).toBe("/home/deploy/.config/flotilla/agent.yaml");
    expect(defaultConfigPath({ HOME: "/home/deploy", XDG_CONFIG_HOME: "/cfg" }, 1000, has("/cfg/flotilla/agent.yaml"))).toBe("/cfg/flotilla/agent.yaml");
  });
  it("falls back to /etc/flotilla/agent.yaml (whose absence the error then names) when the user has none either", () => {
    expect(defaultConfigPath({ HOME: "/home/deploy" }, 1000, has())).toBe("/etc/flotilla/agent.yaml");
    expect(defaultConfigPath({}, 1000, has())).toBe("/etc/flotilla/agent.yaml");
  });
});
