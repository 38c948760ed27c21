/**
 * Which systemd manager a unit lives in, and the systemctl arguments that
 * reach it. A legacy host's services are the deploy user's `systemctl --user`
 * units (the legacy apps write them); a NixOS host's are system units. Reaching a user manager:
 * the agent that *is* the deploy user (install-legacy-agent) runs plain
 * `systemctl --user`; a root agent goes through `--machine=<user>@`. Pure.
 */
import type { HostSpec, SecretSpec } from "../../../common/src/fleet/model.js";

export type SystemdScope = "system" | "user";

/** The scope of a secret's restartUnits on `host`: the fleet's restartUnitsScope, else by host kind. */
export function restartScope(secret: Pick<SecretSpec, "restartUnitsScope">, host: HostSpec): SystemdScope {
  return secret.restartUnitsScope ?? (host.kind === "legacy" ? "user" : "system");
}

/**
 * systemctl arguments before the verb for `scope` on `host`, for an agent
 * running as `agentUser` (uid `agentUid`).
 */
export function scopeArgs(scope: SystemdScope, host: HostSpec, agent: { uid: number; user: string }): string[] {
  if (scope === "system") return [];
  const deployUser = host.kind === "legacy" ? host.user : undefined;
  if (!deployUser || deployUser === agent.user) return ["--user"];
  // Root (or anyone polkit lets in) reaches another user's manager through the
  // machine transport; otherwise systemctl fails and says why.
  return ["--user", `--machine=${deployUser}@`];
}

/**
 * `systemctl restart` invocations for the units named by the host's secrets
 * (`units` = the ones that changed), grouped by scope, system first.
 */
export function restartInvocations(
  units: string[],
  secrets: Array<Pick<SecretSpec, "hosts" | "restartUnits" | "restartUnitsScope">>,
  host: HostSpec,
  agent: { uid: number; user: string },
): string[][] {
  const scopes = new Map<SystemdScope, string[]>();
  for (const unit of units) {
    const owners = secrets.filter((s) => s.hosts.includes(host.name) && s.restartUnits.includes(unit));
    const found = new Set(owners.map((s) => restartScope(s, host)));
    if (found.size === 0) found.add(restartScope({}, host));
    for (const scope of found) scopes.set(scope, [...(scopes.get(scope) ?? []), unit]);
  }
  return (["system", "user"] as const).filter((s) => scopes.has(s)).map((s) => [...scopeArgs(s, host, agent), "restart", ...scopes.get(s)!]);
}

/**
 * Of `units`, those the manager does not have (`LoadState=not-found` in the
 * output of `systemctl show --property=LoadState <units…>`, one block per
 * unit in argument order): nothing of theirs runs with the old secret, and a
 * restart would fail ("Unit … not found") — e.g. a first deploy whose switch
 * installs the unit after the secrets. Any other answer (not one block per
 * unit: a stand-in systemctl, an old systemd) skips nothing.
 */
export function absentUnits(units: readonly string[], showOutput: string): string[] {
  const blocks = showOutput.split(/\n\s*\n/).map((b) => b.trim()).filter(Boolean);
  if (blocks.length !== units.length) return [];
  const states = blocks.map((b) => /^LoadState=(.*)$/m.exec(b)?.[1]);
  if (states.some((s) => s === undefined)) return [];
  return units.filter((_, i) => states[i] === "not-found");
}
