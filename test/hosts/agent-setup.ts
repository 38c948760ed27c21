// Installing flotilla-agent on a real test host the way the docs tell users
// (docs/operations.md §3, docs/packaging.md), with the project's build
// (dist/, bin/, node_modules, bind-mounted read-only at /opt/flotilla) as the
// package and the machine's node at /usr/local/bin/node.
import { PROJECT_IN_HOST, type Host } from "./harness.js";

/**
 * The flotilla package in the host's Nix store: bin/flotilla-agent and
 * bin/flotilla run the bind-mounted build with the host's node. (The real
 * package is nix/package.nix, buildNpmPackage from nixpkgs, which cannot be
 * fetched here; its bins are makeWrapper'ed the same way.) Added by `user`
 * through nix-daemon, as a deploy user would add anything to the store.
 */
export async function addPackage(h: Host, user = "root"): Promise<string> {
  const script = `set -eu
d=$(mktemp -d)/flotilla
mkdir -p "$d/bin"
for b in flotilla flotilla-agent; do
  printf '#!/bin/sh\\nexec /usr/local/bin/node ${PROJECT_IN_HOST}/bin/%s.js "$@"\\n' "$b" >"$d/bin/$b"
  chmod 755 "$d/bin/$b"
done
nix-store --add "$d"
rm -rf "$(dirname "$d")"`;
  return (await h.sh(script, { user })).stdout.trim();
}

export interface LegacyInstall {
  user: string;
  home: string;
  config: string;
  stateDir: string;
  agent: string;
}

/**
 * docs/operations.md §3 "Legacy Debian/Ubuntu hosts", step by step:
 * root lets the deploy user use nix-daemon's settings and gives it a copy of
 * the host key; the deploy user runs install-legacy-agent, which writes the
 * config, the env file and the systemd --user unit and starts it.
 * `agentEnv` lines go into ~/.config/flotilla/agent.env before the start.
 */
export async function installLegacyAgent(
  h: Host,
  o: { host: string; remote: string; branch?: string; controller?: string; agentEnv?: Record<string, string>; user?: string },
): Promise<LegacyInstall> {
  const user = o.user ?? "deploy";
  const home = (await h.sh(`getent passwd ${user} | cut -d: -f6`)).stdout.trim();
  // As root, from the docs.
  await h.sh(`echo 'trusted-users = root ${user}' | tee -a /etc/nix/nix.conf >/dev/null && systemctl restart nix-daemon`);
  await h.sh(`loginctl enable-linger ${user}`);
  await h.sh(`install -d -o ${user} -g ${user} -m 700 ~${user}/.config ~${user}/.config/flotilla && install -o ${user} -m 600 /etc/ssh/ssh_host_ed25519_key ~${user}/.config/flotilla/host_ed25519_key`);
  await waitForUserManager(h, user);
  const pkg = await addPackage(h, user);
  // The env file first (the installer never overwrites it), so the first start has it.
  if (o.agentEnv) {
    const lines = Object.entries(o.agentEnv).map(([k, v]) => `${k}=${v}`).join("\n");
    await h.writeFile(`${home}/.config/flotilla/agent.env`, `${lines}\n`, { user });
  }
  const args = ["--host", o.host, "--remote", o.remote, "--host-key", `${home}/.config/flotilla/host_ed25519_key`, "--no-shell-rc"];
  if (o.branch) args.push("--branch", o.branch);
  if (o.controller) args.push("--controller", o.controller);
  await h.exec(["bash", `${PROJECT_IN_HOST}/nix/install-legacy-agent.sh`, ...args], {
    user,
    cwd: home,
    env: { FLOTILLA_PACKAGE: pkg, FLOTILLA_START_WRAPPER_SOURCE: `${PROJECT_IN_HOST}/nix/agent-start-wrapper.sh` },
  });
  return {
    user,
    home,
    config: `${home}/.config/flotilla/agent.yaml`,
    stateDir: `${home}/.local/state/flotilla`,
    agent: `${home}/.local/state/nix/profiles/flotilla-agent/bin/flotilla-agent`,
  };
}

export async function waitForUserManager(h: Host, user: string): Promise<void> {
  const uid = (await h.exec(["id", "-u", user])).stdout.trim();
  await waitFor(`user@${uid}.service on ${h.name}`, async () => (await h.exec(["systemctl", "is-active", `user@${uid}.service`], { check: false })).stdout.trim() === "active");
}

export interface AgentStatus {
  phase: string;
  target: { rev: string } | null;
  current: { rev: string; generation: string } | null;
  lastOutcome: { outcome: string; reason: string; rev?: string | null; message?: string } | null;
  failedRevs: Array<{ rev: string; reason: string }>;
  error: { reason: string; message: string } | null;
}

export async function agentStatus(h: Host, i: { user: string; agent: string; config: string }): Promise<AgentStatus> {
  const r = await h.exec([i.agent, "status", "--json", "--config", i.config], { user: i.user });
  return JSON.parse(r.stdout) as AgentStatus;
}

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 90_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : last !== undefined ? ` (last: ${JSON.stringify(last)})` : ""}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The journal of a unit inside the host (for failure messages). */
export async function journal(h: Host, unit: string, user?: string): Promise<string> {
  const args = user ? ["journalctl", "--no-pager", "-n", "80", `_SYSTEMD_USER_UNIT=${unit}`] : ["journalctl", "--no-pager", "-n", "80", "-u", unit];
  return (await h.exec(args, { check: false })).stdout;
}

/** systemctl for a unit in the system manager, or in `user`'s manager. */
function systemctl(h: Host, args: string[], user?: string) {
  return h.exec(["systemctl", ...(user ? ["--user"] : []), ...args], { user, check: false });
}

/** The commands (comm) of every process in a unit's cgroup, read from the host's cgroup file systems. */
export async function unitProcesses(h: Host, unit: string, user?: string): Promise<string[]> {
  const cg = (await systemctl(h, ["show", "-P", "ControlGroup", unit], user)).stdout.trim();
  if (!cg) return [];
  const script = 'for d in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do if [ -d "$d$1" ]; then find "$d$1" -name cgroup.procs -exec cat {} + | while read -r p; do cat /proc/$p/comm 2>/dev/null; done; break; fi; done';
  const r = await h.exec(["bash", "-c", script, "procs", cg], { check: false });
  return r.stdout.split("\n").filter(Boolean);
}

/**
 * Waits until the slow step of an activation (the `sleep` of the fixture's
 * slow-switch/slow-legacy marker) runs in the agent's unit, polling the
 * cgroup quickly (`flotilla-agent status` starts a node process in the host,
 * seconds under load, longer than the step may last). The caller checks the
 * state afterwards (status: `activating` `rev`).
 */
export async function waitForSlowActivation(h: Host, o: { user?: string }): Promise<void> {
  await waitFor("the activation's slow step running in flotilla-agent.service", async () => (await unitProcesses(h, "flotilla-agent.service", o.user)).includes("sleep"), 180_000, 100);
}

/**
 * Freezes the agent (SIGSTOP to its main process only) once the slow step of
 * an activation runs in its unit, so the activation goes on while the agent
 * cannot save what came of it. `killAgent` then SIGKILLs the frozen main
 * process: an agent that died after the switch completed and before it
 * recorded it.
 */
export async function freezeAgentDuringActivation(h: Host, o: { statusOf: () => Promise<AgentStatus>; rev: string; user?: string }): Promise<void> {
  await waitForSlowActivation(h, o);
  const r = await systemctl(h, ["kill", "-s", "SIGSTOP", "--kill-who=main", "flotilla-agent.service"], o.user);
  if (r.code !== 0) throw new Error(`SIGSTOP to the agent failed: ${r.stderr}`);
  const s = await o.statusOf();
  if (s.phase !== "activating" || s.target?.rev !== o.rev) throw new Error(`froze the agent in ${s.phase} of ${s.target?.rev ?? "nothing"}, not activating ${o.rev}`);
}

export async function killAgent(h: Host, user?: string): Promise<void> {
  const r = await systemctl(h, ["kill", "-s", "SIGKILL", "--kill-who=main", "flotilla-agent.service"], user);
  if (r.code !== 0) throw new Error(`SIGKILL to the agent failed: ${r.stderr}`);
}
