/**
 * The demo's acts. Each one changes the fleet repo (a commit), then waits,
 * with a deadline, for the outcome it expects, read from the controller's
 * audit and status APIs and checked against the machines themselves, through
 * the `Machines` port (local processes, or booted hosts with --hosts).
 */
import type { HostStatus } from "../schemas/src/api.js";
import { shortPath, type Machines } from "./machine.js";
import { DemoFailure, type Narrator, type Observer, waitUntil, watchFor } from "./observe.js";
import { commit, fleetYaml, PINNED, ROLLING, SECRET_MODE, writeSecret, type HostName, type World } from "./world.js";

export interface Ctx {
  w: World;
  n: Narrator;
  o: Observer;
  /** The machines the agents run on, read directly. */
  m: Machines;
  healthUrl: string;
  pollIntervalMs: number;
  actDeadlineMs: number;
  revs: Record<string, string>;
  /** Generation (profile path) per host per revision name, as observed on the machine. */
  gens: Partial<Record<HostName, Record<string, string | null>>>;
}

const WEB: HostName[] = ["web-1", "web-2"];

function check(n: Narrator, cond: boolean, what: string, seen: string): void {
  if (!cond) throw new DemoFailure(`${what}; saw: ${seen}`);
  n.ok(what);
}

function hostLine(c: Ctx, s: HostStatus | undefined): string {
  return s ? `${s.phase ?? "?"}, on ${c.n.rev(s.currentRev)}, ${s.health}` : "no report yet";
}

function wavesLine(c: Ctx, rev: string): string {
  const r = c.o.rollout(rev);
  if (!r) return `controller has not seen ${c.n.rev(rev)} yet`;
  return `rollout ${r.state}: ${r.waves.map((w) => `${w.name} ${w.state} ${w.healthy}/${w.members.length}`).join(", ")}`;
}

/** true when every host in `hosts` is healthy on `rev` and the rollout of `rollout` reached `state`; else what is missing. */
function fleetOn(c: Ctx, hosts: HostName[], rev: string, rollout: string, state: "complete" | "halted"): true | string {
  const missing = hosts.filter((h) => {
    const s = c.o.host(h);
    return !(s && s.currentRev === rev && s.health === "Healthy");
  });
  const r = c.o.rollout(rollout);
  if (!missing.length && r?.state === state) return true;
  const who = missing.map((h) => `${h} (${hostLine(c, c.o.host(h))})`).join(", ");
  return `${who ? `waiting for ${who}; ` : ""}${wavesLine(c, rollout)}`;
}

function time(c: Ctx, host: HostName, rev: string, phase: string, outcome?: string): number {
  const e = c.o.first(host, rev, phase, outcome);
  return e ? Date.parse(e.time) : NaN;
}

async function recordGenerations(c: Ctx, name: string, hosts: HostName[]): Promise<void> {
  for (const h of hosts) (c.gens[h] ??= {})[name] = (await c.m.view(h)).profile;
}

async function showMachines(c: Ctx, hosts: HostName[], expect: Record<string, string>): Promise<void> {
  for (const h of hosts) {
    const m = await c.m.view(h);
    const where = h === "legacy-1" ? `build-legacy app of ${c.n.rev(m.revision)}, env from .env.production: ${(await c.m.legacyEnvNames(h)).join(", ")}` : `profile → ${shortPath(m.profile)}`;
    c.n.note(`${h.padEnd(10)} ${where}; service health: ${m.health}`);
    if (m.revision !== expect[h]) throw new DemoFailure(`${h} should run ${c.n.rev(expect[h])} on the machine; its stand-in system says ${c.n.rev(m.revision)}`);
    if (m.health !== "ok") throw new DemoFailure(`${h}'s stand-in service should be healthy; its health file says ${m.health}`);
  }
}

async function showSecrets(c: Ctx, hosts: HostName[], sha: Record<string, string>): Promise<void> {
  const unit = c.w.site.appUnit;
  for (const h of hosts) {
    const s = await c.m.secret(h);
    if (!s) throw new DemoFailure(`${h}: expected the secret app-token at ${c.m.secretPath(h)}; it is missing`);
    const ok = s.sha256 === sha[h];
    c.n.note(`${h.padEnd(10)} secrets.d/current/app-token  mode ${s.mode}  sha256 ${s.sha256.slice(0, 16)}…  ${ok ? "= the sops value at the revision it runs" : "MISMATCH"}  (${unit} (re)starts: ${await c.m.restarts(h)})`);
    if (!ok) throw new DemoFailure(`${h}: the installed secret's sha256 ${s.sha256.slice(0, 16)}… differs from the encrypted value's ${sha[h]!.slice(0, 16)}…`);
    if (s.mode !== SECRET_MODE) throw new DemoFailure(`${h}: expected the secret installed with mode ${SECRET_MODE}; found ${s.mode}`);
    const seen = await c.m.serviceSecretSha(h);
    if (seen !== null) {
      if (seen !== sha[h]) throw new DemoFailure(`${h}: ${unit}, at its last start, read a secret with sha256 ${seen.slice(0, 16)}…; the installed one is ${sha[h]!.slice(0, 16)}… (not restarted after the secret changed?)`);
      c.n.note(`${" ".repeat(10)} ${unit} (running) read that same secret at its last start`);
    }
  }
}

/** C0: the fleet; C1: pin db-1 to C0. Both exist before any agent starts. */
export async function createInitialCommits(c: Ctx): Promise<void> {
  await writeSecret(c.w);
  c.revs.C0 = await commit(c.w, { "fleet.yaml": fleetYaml(c.w, { healthUrl: c.healthUrl }) }, "initial fleet: five hosts, waves canary → web → rest, app token (sops)");
  c.n.nameRev(c.revs.C0, "C0");
  c.revs.C1 = await commit(c.w, { "fleet.yaml": fleetYaml(c.w, { healthUrl: c.healthUrl, pin: c.revs.C0 }) }, `pin db-1 to ${c.revs.C0.slice(0, 12)}`);
  c.n.nameRev(c.revs.C1, "C1");
}

export async function act1(c: Ctx): Promise<void> {
  const { C0, C1 } = c.revs as { C0: string; C1: string };
  c.n.heading(`Act 1 — initial rollout of C1 (${C1.slice(0, 7)}): canary → web → rest; db-1 pinned to C0 (${C0.slice(0, 7)})`);
  await waitUntil(c.o, c.n, `canary-1, web-1, web-2 and legacy-1 healthy on C1, db-1 healthy on its pin C0, rollout of C1 complete`, c.actDeadlineMs, () => {
    const rest = fleetOn(c, ROLLING, C1, C1, "complete");
    const db = c.o.host(PINNED);
    const dbOk = db?.currentRev === C0 && db.health === "Healthy";
    if (rest === true && dbOk) return true;
    return `${rest === true ? "" : rest}${dbOk ? "" : `${rest === true ? "" : "; "}db-1 (${hostLine(c, db)})`}`;
  });
  c.n.ok("every rolling host is healthy on C1; the rollout of C1 is complete");
  check(c.n, c.o.host(PINNED)?.currentRev === C0, "db-1 runs its pin C0, not the head C1", hostLine(c, c.o.host(PINNED)));
  await showMachines(c, [...ROLLING, PINNED], { "canary-1": C1, "web-1": C1, "web-2": C1, "legacy-1": C1, "db-1": C0 });
  c.n.note("secrets, decrypted by each agent with its own host key (values never printed):");
  await showSecrets(c, [...ROLLING, PINNED], Object.fromEntries([...ROLLING, PINNED].map((h) => [h, c.w.secretSha])));
  await recordGenerations(c, "C1", [...ROLLING, PINNED]);
}

function assertCanaryFirst(c: Ctx, name: string, rev: string): void {
  const canaryStart = time(c, "canary-1", rev, "activating", "started");
  const canaryDone = time(c, "canary-1", rev, "done", "succeeded");
  const webStart = Math.min(...WEB.map((h) => time(c, h, rev, "fetched", "succeeded")));
  const webDone = Math.max(...WEB.map((h) => time(c, h, rev, "done", "succeeded")));
  const legacyStart = time(c, "legacy-1", rev, "fetched", "succeeded");
  const s = (ms: number) => `${((ms - c.n.t0) / 1000).toFixed(1)}s`;
  check(c.n, canaryStart < canaryDone && canaryDone <= webStart, `canary-1 activated ${name} at ${s(canaryStart)} and was healthy at ${s(canaryDone)}, before any web host started (${s(webStart)}: after the 3 s soak)`, `canary activating ${s(canaryStart)}, done ${s(canaryDone)}, first web fetch ${s(webStart)}`);
  check(c.n, webDone <= legacyStart, `legacy-1 (wave rest) started ${name} at ${s(legacyStart)}, after both web hosts were healthy (${s(webDone)})`, `last web done ${s(webDone)}, legacy fetch ${s(legacyStart)}`);
}

export async function act2(c: Ctx): Promise<void> {
  c.n.heading("Act 2 — a merged change (C2: rotate the app token) rolls out canary-first");
  const oldSha = c.w.secretSha;
  await writeSecret(c.w);
  const C2 = (c.revs.C2 = await commit(c.w, {}, "rotate the app token (secrets/app.yaml re-encrypted to every host)"));
  c.n.nameRev(C2, "C2");
  c.n.line(`committed C2 ${C2.slice(0, 12)} to main: ${C2.slice(0, 7)} "rotate the app token"`);
  await waitUntil(c.o, c.n, "canary-1, web-1, web-2 and legacy-1 healthy on C2 and the rollout of C2 complete", c.actDeadlineMs, () => fleetOn(c, ROLLING, C2, C2, "complete"));
  c.n.ok("every rolling host is healthy on C2; the rollout of C2 is complete");
  assertCanaryFirst(c, "C2", C2);
  await showSecrets(c, [...ROLLING, PINNED], { ...Object.fromEntries(ROLLING.map((h) => [h, c.w.secretSha])), [PINNED]: oldSha });
  const unit = c.w.site.appUnit;
  for (const h of ROLLING) {
    const n = await c.m.restarts(h);
    if (n < 2) throw new DemoFailure(`${h}: expected ${unit} restarted for the rotated token; saw ${n} (re)start(s)`);
  }
  c.n.ok(`the rotated token reached every rolling host and restarted ${unit} there; db-1 (pinned to C0) keeps the old one`);
  await recordGenerations(c, "C2", [...ROLLING, PINNED]);
}

export async function act3(c: Ctx): Promise<void> {
  c.n.heading("Act 3 — a bad commit (C3: canary-1's service comes up unhealthy)");
  const C2 = c.revs.C2!;
  const C3 = (c.revs.C3 = await commit(c.w, { "markers/canary-1/unhealthy": "" }, "canary-1: new service config (markers/canary-1/unhealthy)"));
  c.n.nameRev(C3, "C3");
  c.n.line(`committed C3 ${C3.slice(0, 12)}: its canary-1 system writes health=bad on activation`);
  await waitUntil(c.o, c.n, "canary-1 to fail its health check on C3 and roll back, and the controller to halt C3", c.actDeadlineMs, () => {
    const back = c.o.first("canary-1", C3, "rolledBack", "succeeded");
    const halted = c.o.rollout(C3)?.state === "halted";
    if (back && halted) return true;
    return `canary-1 (${hostLine(c, c.o.host("canary-1"))})${back ? " rolled back" : ""}; ${wavesLine(c, C3)}`;
  });
  const canary = await c.m.view("canary-1");
  const c2gen = c.gens["canary-1"]?.C2 ?? null;
  check(c.n, !!c.o.first("canary-1", C3, "verifying", "failed"), "canary-1 activated C3 and failed its health check", JSON.stringify(c.o.events("canary-1", C3).map((e) => `${e.phase}/${e.outcome}`)));
  check(c.n, canary.profile === c2gen && canary.revision === C2 && canary.health === "ok", `canary-1 rolled back to C2's generation: profile → ${shortPath(canary.profile)}, service healthy again`, `profile ${shortPath(canary.profile)} (C2 was ${shortPath(c2gen)}), revision ${c.n.rev(canary.revision)}, health ${canary.health}`);
  check(c.n, c.o.rollout(C3)?.state === "halted", `the controller halted the rollout of C3 (${wavesLine(c, C3)})`, wavesLine(c, C3));

  const others: HostName[] = ["web-1", "web-2", "legacy-1"];
  const watchMs = Math.max(6_000, 5 * c.pollIntervalMs);
  c.n.line(`watching web-1, web-2 and legacy-1 for ${watchMs / 1000}s (${Math.round(watchMs / c.pollIntervalMs)} poll intervals): they must stay on C2`);
  await watchFor(c.o, c.n, watchMs, () => others.map((h) => `${h}: ${hostLine(c, c.o.host(h))}`).join("; "));
  for (const h of others) {
    const moved = c.o.events(h, C3).filter((e) => !(e.phase === "idle" && e.outcome === "waiting"));
    const m = await c.m.view(h);
    check(
      c.n,
      moved.length === 0 && c.o.host(h)?.currentRev === C2 && m.revision === C2 && m.profile === (c.gens[h]?.C2 ?? null),
      `${h} untouched: still on C2 (${h === "legacy-1" ? "app of C2" : `profile ${shortPath(m.profile)}`}), no deploy of C3 started`,
      `events about C3: ${JSON.stringify(moved.map((e) => `${e.phase}/${e.outcome}`))}; controller says ${hostLine(c, c.o.host(h))}; machine runs ${c.n.rev(m.revision)}`,
    );
  }
}

export async function act4(c: Ctx): Promise<void> {
  c.n.heading("Act 4 — the fix (C4) rolls out fleet-wide, canary first again");
  const C4 = (c.revs.C4 = await commit(c.w, { "markers/canary-1/unhealthy": null }, "fix canary-1's service config (remove markers/canary-1/unhealthy)"));
  c.n.nameRev(C4, "C4");
  c.n.line(`committed C4 ${C4.slice(0, 12)}: the fix`);
  await waitUntil(c.o, c.n, "canary-1, web-1, web-2 and legacy-1 healthy on C4 and the rollout of C4 complete", c.actDeadlineMs, () => fleetOn(c, ROLLING, C4, C4, "complete"));
  c.n.ok("every rolling host is healthy on C4; the rollout of C4 is complete");
  assertCanaryFirst(c, "C4", C4);
  await showMachines(c, ROLLING, Object.fromEntries(ROLLING.map((h) => [h, C4])));
  const failed = c.o.host("canary-1")?.failedRevs ?? [];
  check(c.n, failed.length === 1 && failed[0] === c.revs.C3, "canary-1 remembers C3 as failed (never retried), and nothing else", JSON.stringify(failed));
}

export async function act5(c: Ctx): Promise<void> {
  c.n.heading("Act 5 — the pinned host was left alone");
  const C0 = c.revs.C0!;
  const db = await c.m.view(PINNED);
  const revs = [...new Set(c.o.events(PINNED).map((e) => e.rev).filter((r): r is string => !!r))];
  check(c.n, revs.length === 1 && revs[0] === C0, `db-1's only deploy was its pin C0 (events about: ${revs.map((r) => c.n.rev(r)).join(", ")})`, revs.map((r) => c.n.rev(r)).join(", "));
  check(c.n, db.revision === C0 && db.profile === (c.gens[PINNED]?.C1 ?? null) && c.o.host(PINNED)?.currentRev === C0, `db-1 still on C0: profile → ${shortPath(db.profile)} since act 1`, `machine ${c.n.rev(db.revision)}, profile ${shortPath(db.profile)}, controller ${hostLine(c, c.o.host(PINNED))}`);
}
