/**
 * Normalisation and cross-field rules for a schema-valid fleet file: fills in
 * defaults, resolves selectors, and reports every rule violation (not just the
 * first) with the path inside the file. Pure: no I/O.
 */
import type { FleetFile, HealthCheck, HookCommand } from "../../../schemas/src/fleet.js";
import { parseDuration } from "../../../schemas/src/duration.js";
import { parseCron } from "../cron.js";
import { IMPLICIT_WAVE } from "./model.js";
import type { CheckSpec, Fleet, FleetIssue, HookSpec, HostHooks, HostSpec, SecretSpec, WaveSpec } from "./model.js";
import { isTagSelector, resolveSelector, resolveSelectors, type Selectable } from "./selectors.js";
import { decodeSshEd25519PublicKey } from "./ssh-public-key.js";
import { normalizeDelivery } from "./delivery.js";
import { normalizeReboot, normalizeWindows } from "./windows.js";

export interface NormalizeResult {
  fleet?: Fleet;
  issues: FleetIssue[];
}

const ms = (d: string | undefined, fallback: string): number => parseDuration(d ?? fallback);

function hookSpec(h: HookCommand | undefined): HookSpec | undefined {
  if (!h) return undefined;
  return { command: h.command, timeoutMs: ms(h.timeout, "10m"), ...(h.user ? { user: h.user } : {}) };
}

export function checkName(c: HealthCheck): string {
  if (c.name) return c.name;
  switch (c.type) {
    case "http":
      return `http:${c.url}`;
    case "tcp":
      return `tcp:${c.host ?? "127.0.0.1"}:${c.port}`;
    case "systemd":
      return `systemd:${c.user ? "user:" : ""}${c.unit}`;
    case "command":
      return `command:${c.command[0]}`;
  }
}

function checkSpec(c: HealthCheck): CheckSpec {
  return {
    ...c,
    name: checkName(c),
    timeoutMs: ms(c.timeout, "5s"),
    intervalMs: ms(c.interval, "2s"),
    successes: c.successes ?? 1,
    deadlineMs: ms(c.deadline, "2m"),
  };
}

function inferFormat(file: string): SecretSpec["format"] {
  if (/\.ya?ml$/i.test(file)) return "yaml";
  if (/\.json$/i.test(file)) return "json";
  if (/\.env$|(^|\/)\.env(\.|$)/i.test(file)) return "dotenv";
  return "binary";
}

function resolveMaxUnavailable(v: number | string | undefined, members: number): number {
  if (v === undefined) return 0;
  if (typeof v === "number") return v;
  return Math.floor((members * Number(v.slice(0, -1))) / 100);
}

export interface NormalizeOptions {
  /**
   * Hosts that exist in the file but failed the schema (so are not in `file`):
   * selectors may name them without being reported as matching nothing.
   */
  otherHosts?: Selectable[];
}

export function normalizeFleet(file: FleetFile, opts: NormalizeOptions = {}): NormalizeResult {
  const issues: FleetIssue[] = [];
  const error = (path: FleetIssue["path"], message: string) => issues.push({ severity: "error", path, message });
  const warn = (path: FleetIssue["path"], message: string) => issues.push({ severity: "warning", path, message });

  // Hosts: names unique, keys decodable and unique (a shared key would let one
  // machine report as the other, and decrypt the other's secrets).
  const seen = new Map<string, number>();
  const keyOwner = new Map<string, number>();
  file.hosts.forEach((h, i) => {
    const prev = seen.get(h.name);
    if (prev !== undefined) error(["hosts", i, "name"], `duplicate host name "${h.name}" (first defined at hosts[${prev}])`);
    else seen.set(h.name, i);
    try {
      const key = Buffer.from(decodeSshEd25519PublicKey(h.hostKey)).toString("hex");
      const owner = keyOwner.get(key);
      if (owner !== undefined) {
        error(["hosts", i, "hostKey"], `host "${h.name}" has the same hostKey as "${file.hosts[owner]!.name}" (hosts[${owner}]); every machine has its own SSH host key`);
      } else keyOwner.set(key, i);
    } catch (e) {
      error(["hosts", i, "hostKey"], `invalid ssh-ed25519 public key: ${(e as Error).message}`);
    }
  });
  const selectable = [...file.hosts.map((h) => ({ name: h.name, tags: h.tags ?? [] })), ...(opts.otherHosts ?? [])];
  const allTags = new Set(selectable.flatMap((h) => h.tags));

  const checkSelector = (sel: string, path: FleetIssue["path"], what: string): string[] => {
    const matched = resolveSelector(sel, selectable);
    if (matched.length === 0) {
      if (isTagSelector(sel)) error(path, `${what} names tag "${sel.slice(4)}", which no host has (known tags: ${[...allTags].sort().join(", ") || "none"})`);
      else error(path, `${what} names "${sel}", which matches no host`);
    }
    return matched;
  };

  // Waves: names unique, members exist, each host in at most one wave.
  const waveOf = new Map<string, { wave: number; path: FleetIssue["path"] }>();
  const waveNames = new Set<string>();
  const waves: WaveSpec[] = [];
  (file.waves ?? []).forEach((w, wi) => {
    if (waveNames.has(w.name)) error(["waves", wi, "name"], `duplicate wave name "${w.name}"`);
    if (w.name === IMPLICIT_WAVE) error(["waves", wi, "name"], `"${IMPLICIT_WAVE}" is reserved for hosts that no wave names`);
    waveNames.add(w.name);
    const members: string[] = [];
    w.members.forEach((sel, mi) => {
      for (const host of checkSelector(sel, ["waves", wi, "members", mi], `wave "${w.name}"`)) {
        const other = waveOf.get(host);
        if (other && other.wave !== wi) {
          error(["waves", wi, "members", mi], `host "${host}" is already in wave "${file.waves![other.wave]!.name}"; a host belongs to at most one wave`);
          continue;
        }
        if (!other) waveOf.set(host, { wave: wi, path: ["waves", wi, "members", mi] });
        if (!members.includes(host)) members.push(host);
      }
    });
    waves.push({
      name: w.name,
      index: wi,
      members,
      soakMs: ms(w.soak, "0"),
      maxUnavailable: resolveMaxUnavailable(w.maxUnavailable, members.length),
      acceptPendingReboot: w.acceptPendingReboot ?? false,
      approval: w.approval ?? "auto",
      implicit: false,
    });
  });
  const unassigned = file.hosts.map((h) => h.name).filter((n, i, a) => !waveOf.has(n) && a.indexOf(n) === i);
  if (unassigned.length > 0) {
    waves.push({ name: IMPLICIT_WAVE, index: waves.length, members: unassigned, soakMs: 0, maxUnavailable: 0, acceptPendingReboot: false, approval: "auto", implicit: true });
  }
  const waveIndexOf = new Map<string, number>();
  for (const w of waves) for (const m of w.members) waveIndexOf.set(m, w.index);

  // Check groups.
  const groupChecks = new Map<string, CheckSpec[]>();
  (file.checks ?? []).forEach((g, gi) => {
    const hosts = new Set<string>();
    g.on.forEach((sel, si) => checkSelector(sel, ["checks", gi, "on", si], "check group").forEach((h) => hosts.add(h)));
    for (const h of hosts) groupChecks.set(h, [...(groupChecks.get(h) ?? []), ...g.checks.map(checkSpec)]);
  });

  // Secrets.
  const secretNames = new Set<string>();
  const secrets: SecretSpec[] = (file.secrets ?? []).map((s, si) => {
    if (secretNames.has(s.name)) error(["secrets", si, "name"], `duplicate secret name "${s.name}"`);
    secretNames.add(s.name);
    if (s.sopsFile.startsWith("/") || s.sopsFile.split("/").includes("..")) {
      error(["secrets", si, "sopsFile"], "expected a path inside the fleet repo (relative, no '..')");
    }
    const hosts: string[] = [];
    s.hosts.forEach((sel, hi) => {
      for (const h of checkSelector(sel, ["secrets", si, "hosts", hi], `secret "${s.name}"`)) if (!hosts.includes(h)) hosts.push(h);
    });
    return {
      name: s.name,
      sopsFile: s.sopsFile,
      ...(s.key ? { key: s.key } : {}),
      format: s.format ?? inferFormat(s.sopsFile),
      hosts,
      ...(s.path ? { path: s.path } : {}),
      owner: s.owner ?? "root",
      group: s.group ?? "root",
      mode: parseInt(s.mode ?? "0400", 8),
      restartUnits: s.restartUnits ?? [],
      ...(s.restartUnitsScope ? { restartUnitsScope: s.restartUnitsScope } : {}),
    };
  });

  // Policy and agent settings.
  const p = file.policy ?? {};
  const allowedSigners = p.allowedSigners ?? [];
  const requireSignedCommits = p.requireSignedCommits ?? allowedSigners.length > 0;
  if (requireSignedCommits && allowedSigners.length === 0) {
    error(["policy", "allowedSigners"], "requireSignedCommits is true but no allowedSigners are listed; no commit could ever deploy");
  }
  const a = file.agent ?? {};
  const schedule = a.selfUpdate ? parseCron(a.selfUpdate.schedule) : null;
  if (schedule && !schedule.ok) {
    error(["agent", "selfUpdate", "schedule"], `invalid cron expression "${a.selfUpdate!.schedule}": ${schedule.error}; expected 5 or 6 fields such as "0 4 * * *"`);
  }
  if (a.selfUpdate && !/[0-9a-f]{40}/.test(a.selfUpdate.source)) {
    warn(["agent", "selfUpdate", "source"], "the agent source is not pinned to a 40-hex revision; every agent may build a different version");
  }

  const windows = normalizeWindows(
    file.windows,
    (file.waves ?? []).map((w, wi) => ({ wave: w.name, index: wi, members: waves[wi]?.members ?? [], window: w.window })),
    selectable,
    error,
  );
  for (const w of waves) {
    const own = w.implicit ? undefined : windows.waves.get(w.index);
    if (own) w.window = own;
  }
  const fleetHooks: HostHooks = { preDeploy: hookSpec(file.hooks?.preDeploy), postDeploy: hookSpec(file.hooks?.postDeploy) };
  const hosts: HostSpec[] = file.hosts.map((h) => {
    const waveIndex = waveIndexOf.get(h.name) ?? waves.length - 1;
    const base = {
      name: h.name,
      hostKey: h.hostKey.trim(),
      tags: h.tags ?? [],
      ...(h.pin ? { pin: h.pin } : {}),
      checks: [...(groupChecks.get(h.name) ?? []), ...(h.checks ?? []).map(checkSpec)],
      hooks: h.hooks ? { preDeploy: hookSpec(h.hooks.preDeploy), postDeploy: hookSpec(h.hooks.postDeploy) } : fleetHooks,
      wave: waves[waveIndex]?.name ?? IMPLICIT_WAVE,
      waveIndex,
      ...(h.description ? { description: h.description } : {}),
      ...(windows.hosts.has(h.name) ? { window: windows.hosts.get(h.name)! } : {}),
    };
    if (h.kind === "nixos") {
      return { ...base, kind: "nixos", attribute: h.attribute ?? `nixosConfigurations.${h.name}`, operation: h.operation ?? "switch" };
    }
    return {
      ...base,
      kind: "legacy",
      user: h.user,
      app: h.app ?? "build-legacy",
      projectDir: h.projectDir ?? `/home/${h.user}/fleet`,
      envFiles: h.envFiles ?? [".env.production", ".env.local"],
    };
  });
  for (const [i, h] of file.hosts.entries()) {
    if (h.pin && waveOf.has(h.name)) {
      warn(["hosts", i, "pin"], `host "${h.name}" is pinned; it ignores wave "${file.waves![waveOf.get(h.name)!.wave]!.name}" until the pin is removed`);
    }
  }

  const delivery = normalizeDelivery(file.delivery, selectable, error);
  const reboot = file.reboot ? normalizeReboot(file.reboot, selectable, error) : undefined;

  if (issues.some((i) => i.severity === "error")) return { issues };
  const fleet: Fleet = {
    version: 1,
    policy: {
      branch: p.branch ?? "main",
      ...(p.controller ? { controller: p.controller.replace(/\/+$/, "") } : {}),
      allowRewrites: p.allowRewrites ?? false,
      requireSignedCommits,
      allowedSigners,
      unreachableAfterMs: ms(p.unreachableAfter, "5m"),
    },
    agent: {
      pollIntervalMs: ms(a.pollInterval, "60s"),
      jitterMs: ms(a.jitter, "10s"),
      keepGenerations: a.keepGenerations ?? 5,
      ...(a.selfUpdate
        ? {
            selfUpdate: {
              source: a.selfUpdate.source,
              ...(a.selfUpdate.attribute ? { attribute: a.selfUpdate.attribute } : {}),
              schedule: a.selfUpdate.schedule,
              randomDelayMs: ms(a.selfUpdate.randomDelay, "15m"),
              healthDeadlineMs: ms(a.selfUpdate.healthDeadline, "2m"),
            },
          }
        : {}),
    },
    hosts,
    waves,
    secrets,
    delivery,
    ...(reboot ? { reboot } : {}),
  };
  return { fleet, issues };
}

export { resolveSelectors };
