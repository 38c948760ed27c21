/**
 * Structural diff of two normalised fleets (fleet.yaml before and after a
 * commit): hosts added, removed or changed (and which fields), waves, pins,
 * health checks, secrets, policy and agent settings. Pure. Names fields,
 * never values, except pins (commit ids), which are the point of a pin.
 */
import type { Fleet, HostSpec, SecretSpec, WaveSpec } from "../fleet/model.js";

export interface NamedChange {
  name: string;
  fields: string[];
}

export interface SetDiff {
  added: string[];
  removed: string[];
  changed: NamedChange[];
}

export interface PinChange {
  host: string;
  before?: string;
  after?: string;
}

export interface CheckChange {
  host: string;
  added: string[];
  removed: string[];
  changed: string[];
}

export interface FleetDiff {
  /** True when `before` is absent (fleet.yaml added by this commit): everything counts as added. */
  created: boolean;
  hosts: SetDiff;
  waves: SetDiff & { reordered: boolean };
  pins: PinChange[];
  checks: CheckChange[];
  secrets: SetDiff;
  /** Changed policy fields (e.g. "allowedSigners", "branch"). */
  policy: string[];
  /** Changed agent settings (e.g. "pollIntervalMs", "selfUpdate"). */
  agent: string[];
  empty: boolean;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

function changedFields<T extends object>(a: T, b: T, ignore: readonly string[] = []): string[] {
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !ignore.includes(k));
  return keys.filter((k) => !same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])).sort();
}

function diffByName<T extends { name: string }>(before: readonly T[], after: readonly T[], ignore: readonly string[] = []): SetDiff {
  const old = new Map(before.map((x) => [x.name, x]));
  const now = new Map(after.map((x) => [x.name, x]));
  const changed: NamedChange[] = [];
  for (const [name, x] of now) {
    const prev = old.get(name);
    if (!prev) continue;
    const fields = changedFields(prev, x, ignore);
    if (fields.length > 0) changed.push({ name, fields });
  }
  return {
    added: [...now.keys()].filter((n) => !old.has(n)),
    removed: [...old.keys()].filter((n) => !now.has(n)),
    changed,
  };
}

function diffChecks(before: HostSpec | undefined, after: HostSpec | undefined, host: string): CheckChange | undefined {
  const a = new Map((before?.checks ?? []).map((c) => [c.name, c]));
  const b = new Map((after?.checks ?? []).map((c) => [c.name, c]));
  const change: CheckChange = {
    host,
    added: [...b.keys()].filter((n) => !a.has(n)),
    removed: [...a.keys()].filter((n) => !b.has(n)),
    changed: [...b.keys()].filter((n) => a.has(n) && !same(a.get(n), b.get(n))),
  };
  return change.added.length + change.removed.length + change.changed.length > 0 ? change : undefined;
}

const EMPTY_FLEET: Fleet = {
  version: 1,
  policy: { branch: "main", allowRewrites: false, requireSignedCommits: false, allowedSigners: [], unreachableAfterMs: 300_000 },
  agent: { pollIntervalMs: 60_000, jitterMs: 10_000, keepGenerations: 5 },
  hosts: [],
  waves: [],
  secrets: [],
};

/** What changed from `before` (undefined: no fleet.yaml yet) to `after`. */
export function diffFleets(before: Fleet | undefined, after: Fleet): FleetDiff {
  const prev = before ?? EMPTY_FLEET;
  const hosts = diffByName<HostSpec>(prev.hosts, after.hosts, ["waveIndex"]);
  const waves = diffByName<WaveSpec>(prev.waves, after.waves, ["index"]);
  const commonOrder = (xs: WaveSpec[], other: WaveSpec[]) => xs.map((w) => w.name).filter((n) => other.some((o) => o.name === n));
  const reordered = !same(commonOrder(prev.waves, after.waves), commonOrder(after.waves, prev.waves));

  const pins: PinChange[] = [];
  const checks: CheckChange[] = [];
  const names = [...new Set([...prev.hosts.map((h) => h.name), ...after.hosts.map((h) => h.name)])];
  for (const name of names) {
    const a = prev.hosts.find((h) => h.name === name);
    const b = after.hosts.find((h) => h.name === name);
    if (a?.pin !== b?.pin) pins.push({ host: name, ...(a?.pin ? { before: a.pin } : {}), ...(b?.pin ? { after: b.pin } : {}) });
    const c = diffChecks(a, b, name);
    if (c) checks.push(c);
  }
  const secrets = diffByName<SecretSpec>(prev.secrets, after.secrets);
  const policy = changedFields(prev.policy, after.policy);
  const agent = changedFields(prev.agent, after.agent);
  const empty =
    hosts.added.length + hosts.removed.length + hosts.changed.length === 0 &&
    waves.added.length + waves.removed.length + waves.changed.length === 0 &&
    !reordered &&
    pins.length + checks.length === 0 &&
    secrets.added.length + secrets.removed.length + secrets.changed.length === 0 &&
    policy.length + agent.length === 0;
  return { created: before === undefined, hosts, waves: { ...waves, reordered }, pins, checks, secrets, policy, agent, empty };
}

/** The diff as indented lines for people; [] when nothing changed. */
export function formatFleetDiff(d: FleetDiff): string[] {
  const out: string[] = [];
  const set = (label: string, s: SetDiff) => {
    for (const n of s.added) out.push(`${label} added: ${n}`);
    for (const n of s.removed) out.push(`${label} removed: ${n}`);
    for (const c of s.changed) out.push(`${label} changed: ${c.name} (${c.fields.join(", ")})`);
  };
  if (d.created) out.push("fleet.yaml added by this commit");
  set("host", d.hosts);
  set("wave", d.waves);
  if (d.waves.reordered) out.push("waves reordered");
  for (const p of d.pins) {
    if (!p.before) out.push(`pin set: ${p.host} → ${p.after}`);
    else if (!p.after) out.push(`pin removed: ${p.host} (was ${p.before})`);
    else out.push(`pin moved: ${p.host} ${p.before} → ${p.after}`);
  }
  for (const c of d.checks) {
    const parts = [
      ...c.added.map((n) => `+${n}`),
      ...c.removed.map((n) => `-${n}`),
      ...c.changed.map((n) => `~${n}`),
    ];
    out.push(`checks of ${c.host}: ${parts.join(" ")}`);
  }
  set("secret", d.secrets);
  if (d.policy.length) out.push(`policy changed: ${d.policy.join(", ")}`);
  if (d.agent.length) out.push(`agent settings changed: ${d.agent.join(", ")}`);
  return out;
}
