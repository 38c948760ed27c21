/**
 * `npm run demo -- --hosts`: the demo's five machines as real hosts. Debian
 * bookworm booted with systemd as PID 1 under systemd-nspawn, by the real-host
 * test bed (test/hosts/harness.ts, docs/testing-hosts.md), on the machine's
 * network, so the controller, the health server and the fleet remote on
 * 127.0.0.1 are reachable from inside. The agents are installed the way the
 * docs say: on canary-1, web-1, web-2 and db-1 the NixOS module's
 * flotilla-agent.service (rendered from nix/modules/agent.nix), on legacy-1
 * nix/install-legacy-agent.sh's systemd --user unit of the `deploy` user.
 * With FLOTILLA_FIXTURE_UNITS=1 each activation installs and restarts a real
 * webapp.service (a system unit, or deploy's --user unit on legacy-1).
 *
 * `DemoHosts` gives the acts the same `Machines` port as the process demo,
 * reading each host from inside (nsenter), and powers everything off again.
 */
import { existsSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { serveHttp, type HttpRemote } from "../test/helpers/git-repo.js";
import { installLegacyAgent } from "../test/hosts/agent-setup.js";
import { installNixosAgent } from "../test/hosts/fleet-bed.js";
import { TestBed, type Host } from "../test/hosts/harness.js";
import { envNames, type Machines, type MachineView, type SecretView } from "./machine.js";
import { HOSTS, SECRET_NAME, type HostName, type Site, type World } from "./world.js";

const NIXOS_STATE = "/var/lib/fixture";
const LEGACY_USER = "deploy";
const LEGACY_HOME = "/home/deploy";
const LEGACY_STATE = `${LEGACY_HOME}/fixture`;
const LEGACY_PROJECT = `${LEGACY_HOME}/app`;
const APP_ENV = "/etc/flotilla/app.env";
/** nix/modules/agent.nix's default secretsRoot. */
const NIXOS_SECRETS = "/run/flotilla/secrets.d";
const PROFILE = "/nix/var/nix/profiles/system";

const isLegacy = (h: HostName) => h === "legacy-1";

export const HOSTS_SITE: Site = {
  fixtureStateOf: (h) => (isLegacy(h) ? LEGACY_STATE : NIXOS_STATE),
  legacyUser: LEGACY_USER,
  legacyProjectDir: LEGACY_PROJECT,
  appUnit: "webapp.service",
};

export class DemoHosts {
  private bed: TestBed | null = null;
  private remote: HttpRemote | null = null;
  private readonly hosts = new Map<HostName, Host>();
  private legacyUid = "";
  private closed = false;

  /** Builds the base rootfs if it is not cached yet (debootstrap, ~75 s once), then boots the five hosts. */
  async boot(onBase: (base: string) => void): Promise<void> {
    this.bed = await TestBed.create();
    onBase(this.bed.base);
    // Every boot settles before a failure is reported, so close() never races a boot still under way.
    const booted = await Promise.allSettled(HOSTS.map(async (h) => this.hosts.set(h, await this.bed!.boot(h))));
    const failed = booted.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed.length) throw new Error(`booting the demo's hosts failed:\n${failed.map((r) => (r.reason as Error).message).join("\n")}`);
    this.legacyUid = (await this.host("legacy-1").exec(["id", "-u", LEGACY_USER])).stdout.trim();
  }

  host(h: HostName): Host {
    const x = this.hosts.get(h);
    if (!x) throw new Error(`${h} is not booted`);
    return x;
  }

  get workDir(): string {
    return this.bed?.workDir ?? "";
  }

  /** Each host's own /etc/ssh/ssh_host_ed25519_key, as the machine sees it through the overlay. */
  hostKeys(): Record<HostName, string> {
    return Object.fromEntries(HOSTS.map((h) => [h, join(this.host(h).merged, "etc/ssh/ssh_host_ed25519_key")])) as Record<HostName, string>;
  }

  /** The health server reads <w.fixtureState>/<host>/health: link each to that host's own state dir. */
  linkFixtureState(w: World): void {
    mkdirSync(w.fixtureState, { recursive: true });
    for (const h of HOSTS) {
      const link = join(w.fixtureState, h);
      if (!existsSync(link)) symlinkSync(join(this.host(h).merged, HOSTS_SITE.fixtureStateOf(h).slice(1), h), link);
    }
  }

  private secretsRoot(h: HostName): string {
    return isLegacy(h) ? `/run/user/${this.legacyUid}/flotilla/secrets.d` : NIXOS_SECRETS;
  }

  /** Serves the fleet repo over HTTP on 127.0.0.1 and installs and starts every agent. */
  async startAgents(w: World, controllerUrl: string): Promise<string> {
    this.remote = await serveHttp(w.repo);
    const remote = this.remote.url;
    const secretFile = (h: HostName) => join(this.secretsRoot(h), "current", SECRET_NAME);
    await Promise.all(
      HOSTS.map(async (h) => {
        const host = this.host(h);
        if (isLegacy(h)) {
          await host.writeFile(`${LEGACY_PROJECT}/.env.production`, `SERVICE_PORT=8080\nSERVICE_ENV=production\nSERVICE_SECRET_FILE=${secretFile(h)}\n`, { user: LEGACY_USER });
          await installLegacyAgent(host, { host: h, remote, controller: controllerUrl, agentEnv: { FLOTILLA_FIXTURE_STATE: LEGACY_STATE, FLOTILLA_FIXTURE_UNITS: "1" } });
        } else {
          await host.writeFile(APP_ENV, `SERVICE_SECRET_FILE=${secretFile(h)}\n`, { mode: "644" });
          await installNixosAgent(
            host,
            {
              remotes: [remote],
              controller: controllerUrl,
              pollInterval: "1s",
              jitter: "500ms",
              heartbeatInterval: "30s",
              timeouts: { git: "30s", build: "5m", activate: "2m", connectivity: "5s" },
            },
            { FLOTILLA_FIXTURE_STATE: NIXOS_STATE, FLOTILLA_FIXTURE_UNITS: "1", FLOTILLA_FIXTURE_APP_ENV: APP_ENV },
          );
        }
      }),
    );
    return remote;
  }

  private async sh(h: HostName, script: string, ...args: string[]): Promise<string> {
    return (await this.host(h).exec(["sh", "-c", script, "sh", ...args], { check: false })).stdout;
  }

  machines(): Machines {
    const state = (h: HostName) => join(HOSTS_SITE.fixtureStateOf(h), h);
    return {
      view: async (h): Promise<MachineView> => {
        const [profile, revision, health] = (
          await this.sh(h, 'p=; [ -e "$1" ] && p=$(readlink -f "$1"); printf "%s\\n%s\\n%s\\n" "$p" "$(cat "$2/current-revision" 2>/dev/null)" "$(cat "$2/health" 2>/dev/null)"', isLegacy(h) ? "/nonexistent" : PROFILE, state(h))
        ).split("\n");
        return { profile: profile || null, revision: revision || null, health: health || null };
      },
      secret: async (h): Promise<SecretView | null> => {
        const path = join(this.secretsRoot(h), "current", SECRET_NAME);
        const out = (await this.sh(h, '[ -f "$1" ] && stat -c %a "$1" && sha256sum <"$1" | cut -d" " -f1', path)).trim().split("\n");
        if (out.length !== 2) return null;
        return { path, mode: out[0]!.padStart(4, "0"), sha256: out[1]! };
      },
      secretPath: (h) => `${h}:${join(this.secretsRoot(h), "current", SECRET_NAME)}`,
      // Every start of webapp.service appends a line to app-starts (test/fixtures/fleet/lib/fixture-app.sh).
      restarts: async (h) => (await this.sh(h, 'cat "$1/app-starts" 2>/dev/null', state(h))).split("\n").filter(Boolean).length,
      serviceSecretSha: async (h) => (await this.sh(h, 'cat "$1/app-secret-sha256" 2>/dev/null', state(h))).trim() || "none",
      legacyEnvNames: async (h) => envNames(await this.sh(h, 'cat "$1/env" 2>/dev/null', state(h))),
    };
  }

  /** The agent's journal on `h` (all of it). */
  async agentLog(h: HostName): Promise<string> {
    const args = isLegacy(h) ? ["_SYSTEMD_USER_UNIT=flotilla-agent.service"] : ["-u", "flotilla-agent.service"];
    return (await this.host(h).exec(["journalctl", "--no-pager", "-o", "short-precise", ...args], { check: false })).stdout;
  }

  /** What to look at while the hosts run. */
  describe(): string[] {
    return HOSTS.map((h) => {
      const host = this.host(h);
      const how = isLegacy(h) ? `agent: systemctl --user -M ${LEGACY_USER}@ status flotilla-agent` : "agent: systemctl status flotilla-agent";
      return `${h.padEnd(10)} nsenter -t ${host.pid1} -a   (${how})`;
    });
  }

  /** Stops the fleet remote, powers every host off, removes their cgroups and unmounts their overlays. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.remote?.close().catch(() => {});
    await this.bed?.close();
  }
}
