// Real hosts for tests: Debian bookworm root file systems booted with a real
// systemd as PID 1 under systemd-nspawn, one overlayfs per host over a shared
// read-only base (docs/testing-hosts.md).
//
//   const bed = await TestBed.create();          // builds or reuses the base rootfs
//   const h = await bed.boot("legacy-1");        // overlay, cgroup, host key, boot
//   await h.sh("systemctl is-active nix-daemon.socket");
//   await h.sh("systemctl --user status", { user: "deploy" });
//   await h.reboot();                            // power off, boot the same overlay
//   await bed.close();                           // power off, unmount, remove cgroups
//
// The base is built by build-rootfs.sh with debootstrap from the machine's
// own Debian mirror (read from its apt sources at run time) and cached as a
// zstd tarball keyed by a hash of the package list and the build script. The
// tier never skips: a host that cannot be built or booted fails the test with
// the reason.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, openSync, readFileSync, closeSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile, readdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const PROJECT_ROOT = resolve(here, "../..");
const BUILD_SCRIPT = join(here, "build-rootfs.sh");

/** What every host has; the agent's own needs are nix, git, systemd, ssh-keygen, runuser (util-linux). */
export const PACKAGES = [
  "systemd",
  "systemd-sysv",
  "dbus",
  "dbus-user-session",
  "libpam-systemd",
  "libnss-systemd",
  "procps",
  "iproute2",
  "sudo",
  "git",
  "ca-certificates",
  "libdbi-perl",
  "nix-bin",
  "nix-setup-systemd",
  "openssh-client",
];

/** Inside every host: the built project (read-only) and the machine's node. */
export const PROJECT_IN_HOST = "/opt/flotilla";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** Run as this user (runuser), with XDG_RUNTIME_DIR so `systemctl --user` reaches the user manager. */
  user?: string;
  env?: Record<string, string>;
  cwd?: string;
  input?: string;
  timeoutMs?: number;
  /** Throw on a non-zero exit (default true). */
  check?: boolean;
}

function run(cmd: string, args: string[], o: { input?: string; timeoutMs?: number } = {}): Promise<ExecResult> {
  return new Promise((res) => {
    const child = execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, timeout: o.timeoutMs ?? 120_000, encoding: "utf8" }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === "number" ? (err as unknown as { code: number }).code : 1) : 0;
      res({ code, stdout, stderr: err && !stderr ? String(err.message) : stderr });
    });
    if (o.input !== undefined) child.stdin?.end(o.input);
    else child.stdin?.end();
  });
}

async function must(cmd: string, args: string[], what: string, o: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, o);
  if (r.code !== 0) throw new Error(`${what}: ${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** The machine's Debian mirror for bookworm, from its apt sources (never hard-coded in the repo). */
export function debianMirror(): string {
  const deb822 = "/etc/apt/sources.list.d/debian.sources";
  if (existsSync(deb822)) {
    for (const stanza of readFileSync(deb822, "utf8").split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1] ?? "";
      if (uri && !/security/.test(uri) && /\bbookworm\b/.test(suites)) return uri;
    }
    for (const stanza of readFileSync(deb822, "utf8").split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      if (uri && !/security/.test(uri)) return uri;
    }
  }
  if (existsSync("/etc/apt/sources.list")) {
    for (const line of readFileSync("/etc/apt/sources.list", "utf8").split("\n")) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
      if (m && !/security/.test(m[1]!)) return m[1]!;
    }
  }
  throw new Error("no Debian mirror found in /etc/apt/sources.list.d/debian.sources (URIs:) or /etc/apt/sources.list; the host test bed builds its rootfs with debootstrap from it");
}

export function cacheDir(): string {
  return process.env.FLOTILLA_HOSTS_CACHE || "/var/cache/flotilla-test-hosts";
}

/** Hash of what the base is made of: the package list and the build script. */
export function baseKey(): string {
  return createHash("sha256").update(PACKAGES.join(",")).update("\0").update(readFileSync(BUILD_SCRIPT)).digest("hex").slice(0, 16);
}

function preflight(): void {
  if (process.getuid?.() !== 0) throw new Error("the host test bed needs root (systemd-nspawn, overlayfs mounts, cgroups); run the tests as root");
  const missing = [
    ["systemd-nspawn", "systemd-container"],
    ["debootstrap", "debootstrap"],
    ["zstd", "zstd"],
    ["nsenter", "util-linux"],
    ["ip", "iproute2"],
    ["ssh-keygen", "openssh-client"],
  ].filter(([cmd]) => !["/usr/bin", "/usr/sbin", "/bin", "/sbin"].some((d) => existsSync(join(d, cmd!))));
  if (missing.length) throw new Error(`the host test bed needs ${missing.map(([c, p]) => `${c} (Debian package ${p})`).join(", ")}; run scripts/ensure-deps.sh as root`);
  for (const d of ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"])
    if (!existsSync(d)) throw new Error(`${d} is missing: the test bed expects the hybrid cgroup layout this machine has (docs/testing-hosts.md)`);
}

/**
 * The base rootfs: built once per key (under a file lock, so parallel test
 * files wait for one build), kept as <cache>/bookworm-<key>.tar.zst and
 * extracted next to it as the overlays' lower directory.
 */
export async function ensureBase(): Promise<string> {
  preflight();
  const dir = cacheDir();
  await mkdir(dir, { recursive: true });
  const key = baseKey();
  const tarball = join(dir, `bookworm-${key}.tar.zst`);
  const rootfs = join(dir, `bookworm-${key}`);
  if (existsSync(join(rootfs, ".flotilla-complete"))) return rootfs;
  const script = [
    "set -eu",
    `tarball=${JSON.stringify(tarball)} rootfs=${JSON.stringify(rootfs)}`,
    `if [ ! -f "$tarball" ]; then bash ${JSON.stringify(BUILD_SCRIPT)} ${JSON.stringify(debianMirror())} "$tarball" ${PACKAGES.join(" ")}; fi`,
    'if [ ! -f "$rootfs/.flotilla-complete" ]; then rm -rf "$rootfs.tmp"; mkdir -p "$rootfs.tmp"; zstd -dc "$tarball" | tar -C "$rootfs.tmp" --numeric-owner --xattrs -xf -; rm -rf "$rootfs"; mv "$rootfs.tmp" "$rootfs"; touch "$rootfs/.flotilla-complete"; fi',
  ].join("\n");
  await must("flock", [join(dir, ".lock"), "sh", "-c", script], "building the host test bed's base rootfs", { timeoutMs: 15 * 60_000 });
  return rootfs;
}

export interface BootOptions {
  /** "host" (default): the machine's network, 127.0.0.1 reaches the machine. "veth": own netns, see Host.link. */
  network?: "host" | "veth";
  /** Extra bind mounts "SRC:DST" (read-only unless rw). */
  bindRo?: string[];
  bind?: string[];
}

let bedCounter = 0;

/** Kills whatever is left in the hosts' cgroups (their processes were all started by this harness) and removes them. */
async function removeCgroups(cgroups: string[]): Promise<void> {
  for (const cg of cgroups) {
    if (!existsSync(cg)) continue;
    await run("sh", ["-c", 'for i in 1 2 3 4 5; do p=$(find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null); [ -z "$p" ] && break; kill -9 $p 2>/dev/null; sleep 0.2; done; find "$1" -depth -type d -exec rmdir {} + 2>/dev/null; true', "rm", cg]);
  }
}

/**
 * Hosts left by a test process that died without cleaning up (a killed
 * worker): their cgroup names carry the test process's pid.
 */
async function sweepStale(): Promise<void> {
  for (const root of ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"]) {
    for (const d of await readdir(root).catch(() => [] as string[])) {
      const m = /^nspawn-.+-(\d+)-\d+-[0-9a-f]{4}$/.exec(d);
      if (m && !existsSync(`/proc/${m[1]}`)) await removeCgroups([join(root, d)]);
    }
  }
}

export class TestBed {
  private hosts: Host[] = [];
  private constructor(
    readonly base: string,
    readonly workDir: string,
  ) {}

  static async create(): Promise<TestBed> {
    const base = await ensureBase();
    await sweepStale();
    const workDir = await mkdtemp(join("/tmp", "flotilla-hosts-"));
    return new TestBed(base, workDir);
  }

  /** Boots a throwaway host named `name` (its hostname); waits until systemd has finished starting. */
  async boot(name: string, o: BootOptions = {}): Promise<Host> {
    const id = `${name}-${process.pid}-${++bedCounter}-${randomBytes(2).toString("hex")}`;
    const h = new Host(this, name, id, join(this.workDir, id), o);
    this.hosts.push(h);
    await h.create();
    await h.start();
    return h;
  }

  async close(): Promise<void> {
    const errors: string[] = [];
    for (const h of this.hosts.reverse()) await h.destroy().catch((e: Error) => errors.push(`${h.name}: ${e.message}`));
    this.hosts = [];
    if (!process.env.FLOTILLA_KEEP_HOSTS) await rm(this.workDir, { recursive: true, force: true }).catch(() => {});
    if (errors.length) throw new Error(`cleaning up the test hosts failed:\n${errors.join("\n")}`);
  }
}

export class Host {
  private nspawn: ChildProcess | null = null;
  private exited: Promise<number> | null = null;
  pid1 = 0;
  readonly merged: string;
  private readonly cgroups: string[];
  private netns: string | null = null;

  constructor(
    private readonly bed: TestBed,
    readonly name: string,
    readonly id: string,
    readonly dir: string,
    private readonly o: BootOptions,
  ) {
    this.merged = join(dir, "merged");
    this.cgroups = [`/sys/fs/cgroup/unified/nspawn-${id}`, `/sys/fs/cgroup/systemd/nspawn-${id}`];
  }

  /** Console output of every boot of this host (for failure messages). */
  get consoleLog(): string {
    return join(this.dir, "console.log");
  }

  async create(): Promise<void> {
    for (const d of ["upper", "work", "merged"]) await mkdir(join(this.dir, d), { recursive: true });
    await this.mount();
    // Per host: hostname, machine id, its own ssh host key.
    await writeFile(join(this.merged, "etc/hostname"), `${this.name}\n`);
    await writeFile(join(this.merged, "etc/machine-id"), `${randomBytes(16).toString("hex")}\n`);
    const hosts = await readFile(join(this.merged, "etc/hosts"), "utf8").catch(() => "");
    await writeFile(join(this.merged, "etc/hosts"), `127.0.1.1 ${this.name}\n${hosts}`);
    await mkdir(join(this.merged, "etc/ssh"), { recursive: true });
    await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${this.name}`, "-f", join(this.merged, "etc/ssh/ssh_host_ed25519_key")], "generating the host key");
    if (this.o.network === "veth") await this.makeNetns();
  }

  private async mount(): Promise<void> {
    await must("mount", ["-t", "overlay", "overlay", "-o", `lowerdir=${this.bed.base},upperdir=${join(this.dir, "upper")},workdir=${join(this.dir, "work")}`, this.merged], "mounting the host's overlay");
  }

  /** Its own network namespace with a veth pair to the machine: 10.X.Y.1 (machine) ↔ 10.X.Y.2 (host), a /30 of its own. */
  private async makeNetns(): Promise<void> {
    const r = randomBytes(2);
    const net = `10.${200 + (r[0]! % 50)}.${r[1]!}`;
    const ns = `flt-${this.id}`.slice(0, 40);
    const outer = `fo${randomBytes(3).toString("hex")}`;
    const inner = `fi${randomBytes(3).toString("hex")}`;
    await must("ip", ["netns", "add", ns], "creating the host's netns");
    this.netns = ns;
    await must("ip", ["link", "add", outer, "type", "veth", "peer", "name", inner], "creating the veth pair");
    this.link = { outer, inner, machineAddr: `${net}.1`, hostAddr: `${net}.2` };
    await must("ip", ["link", "set", inner, "netns", ns], "moving the veth into the netns");
    await must("ip", ["addr", "add", `${net}.1/30`, "dev", outer], "addressing the veth");
    await must("ip", ["link", "set", outer, "up"], "veth up");
    await must("ip", ["-n", ns, "addr", "add", `${net}.2/30`, "dev", inner], "addressing the veth");
    await must("ip", ["-n", ns, "link", "set", inner, "up"], "veth up");
    await must("ip", ["-n", ns, "link", "set", "lo", "up"], "lo up");
  }

  /** With network "veth": the pair's names and addresses; down()/up() cut and restore it. */
  link: { outer: string; inner: string; machineAddr: string; hostAddr: string } | null = null;

  async linkDown(): Promise<void> {
    if (!this.link) throw new Error(`${this.name} was booted without network: "veth"`);
    await must("ip", ["link", "set", this.link.outer, "down"], "cutting the link");
  }

  async linkUp(): Promise<void> {
    if (!this.link) throw new Error(`${this.name} was booted without network: "veth"`);
    await must("ip", ["link", "set", this.link.outer, "up"], "restoring the link");
  }

  /** Boots (or boots again) the overlay; resolves once `systemctl is-system-running --wait` answers. */
  async start(): Promise<void> {
    for (const cg of this.cgroups) await mkdir(cg, { recursive: true });
    const args = [
      "-D",
      this.merged,
      "-b",
      "--register=no",
      "--keep-unit",
      "--console=passive",
      `--machine=${this.name}`,
      `--bind-ro=${PROJECT_ROOT}:${PROJECT_IN_HOST}`,
      "--bind-ro=/usr/bin/node:/usr/local/bin/node",
      ...(this.o.bindRo ?? []).map((b) => `--bind-ro=${b}`),
      ...(this.o.bind ?? []).map((b) => `--bind=${b}`),
      ...(this.netns ? [`--network-namespace-path=/run/netns/${this.netns}`] : []),
    ];
    const fd = openSync(this.consoleLog, "a");
    // The launcher moves itself into the host's own cgroups first, so that two
    // hosts' system.slice/x.service are different cgroups (docs/testing-hosts.md).
    const launcher = `for cg in "$@"; do :; done; echo $$ >${this.cgroups[0]}/cgroup.procs && echo $$ >${this.cgroups[1]}/cgroup.procs && exec systemd-nspawn "$@"`;
    const child = spawn("sh", ["-c", launcher, "launcher", ...args], { stdio: ["ignore", fd, fd], env: { ...process.env, SYSTEMD_LOG_LEVEL: "warning" } });
    closeSync(fd);
    this.nspawn = child;
    this.exited = new Promise((res) => child.once("exit", (code, sig) => res(code ?? (sig ? 128 : 1))));
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${this.name} did not boot: systemd-nspawn exited ${child.exitCode}; console:\n${await this.tail()}`);
      const pid = await this.findPid1(child.pid!);
      if (pid) {
        this.pid1 = pid;
        const r = await this.exec(["systemctl", "is-system-running", "--wait"], { check: false, timeoutMs: 60_000 });
        const state = r.stdout.trim();
        if (state === "running") return;
        if (state === "degraded") {
          const failed = await this.exec(["systemctl", "--failed", "--no-legend", "--plain"], { check: false });
          throw new Error(`${this.name} booted degraded; failed units:\n${failed.stdout}\nconsole:\n${await this.tail()}`);
        }
        if (state !== "" && state !== "starting" && state !== "initializing" && state !== "offline" && !/Failed to connect|No such file/.test(r.stderr))
          throw new Error(`${this.name}: systemctl is-system-running says "${state}" ${r.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`${this.name} did not finish booting within 60 s; console:\n${await this.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async tail(): Promise<string> {
    const text = await readFile(this.consoleLog, "utf8").catch(() => "");
    return text.split("\n").slice(-40).join("\n");
  }

  /** PID 1 of the container: the child of systemd-nspawn (the launcher execs nspawn, so its pid is nspawn's). */
  private async findPid1(nspawnPid: number): Promise<number> {
    const tasks = await readdir(`/proc/${nspawnPid}/task`).catch(() => [] as string[]);
    for (const t of tasks) {
      const kids = (await readFile(`/proc/${nspawnPid}/task/${t}/children`, "utf8").catch(() => "")).trim().split(/\s+/).filter(Boolean);
      for (const k of kids) {
        const comm = (await readFile(`/proc/${k}/comm`, "utf8").catch(() => "")).trim();
        if (comm === "systemd") return Number(k);
      }
    }
    return 0;
  }

  /** Runs argv inside the host (nsenter into PID 1's namespaces), as root or `o.user`. */
  async exec(argv: string[], o: ExecOptions = {}): Promise<ExecResult> {
    if (!this.pid1) throw new Error(`${this.name} is not running`);
    const env: Record<string, string> = { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", LANG: "C.UTF-8", ...o.env };
    let inner = argv;
    if (o.user) {
      const uid = (await this.exec(["id", "-u", o.user])).stdout.trim();
      const home = (await this.exec(["sh", "-c", `getent passwd ${o.user} | cut -d: -f6`])).stdout.trim();
      Object.assign(env, { XDG_RUNTIME_DIR: `/run/user/${uid}`, HOME: home, USER: o.user, LOGNAME: o.user }, o.env);
      inner = ["runuser", "-u", o.user, "--", ...argv];
    } else env.HOME ??= "/root";
    const envArgs = ["env", "-i", ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
    const cd = o.cwd ? ["sh", "-c", 'cd "$1" && shift && exec "$@"', "cd", o.cwd] : [];
    const r = await run("nsenter", ["-t", String(this.pid1), "-m", "-u", "-i", "-n", "-p", "-C", "--", ...envArgs, ...cd, ...inner], { input: o.input, timeoutMs: o.timeoutMs ?? 120_000 });
    if (o.check !== false && r.code !== 0) throw new Error(`on ${this.name}${o.user ? ` as ${o.user}` : ""}: ${argv.join(" ")} exited ${r.code}\nstdout: ${r.stdout.trim()}\nstderr: ${r.stderr.trim()}`);
    return r;
  }

  /** A shell script inside the host (`sh -c`). */
  sh(script: string, o: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(["bash", "-c", script], o);
  }

  /** Reads a file of the running host (through the overlay). */
  async readFile(p: string): Promise<string> {
    return (await this.exec(["cat", p])).stdout;
  }

  async writeFile(p: string, content: string, o: { user?: string; mode?: string } = {}): Promise<void> {
    await this.exec(["sh", "-c", `umask 077; mkdir -p "$(dirname "$1")" && cat >"$1" && chmod ${o.mode ?? "600"} "$1"`, "w", p], { input: content, user: o.user });
  }

  /** `systemctl poweroff` and wait for nspawn to exit; the overlay stays mounted. */
  async poweroff(): Promise<void> {
    if (!this.nspawn || this.nspawn.exitCode !== null) return;
    await this.exec(["systemctl", "poweroff", "--no-block"], { check: false });
    const done = await Promise.race([this.exited!, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
    if (done === null) {
      this.nspawn.kill("SIGKILL");
      await this.exited;
    }
    this.pid1 = 0;
    this.nspawn = null;
  }

  /** Power off and boot the same overlay: state on disk stays, /run and /tmp do not. */
  async reboot(): Promise<void> {
    await this.poweroff();
    await this.start();
  }

  async destroy(): Promise<void> {
    await this.poweroff().catch(() => {
      this.nspawn?.kill("SIGKILL");
    });
    await removeCgroups(this.cgroups);
    if (existsSync(this.merged)) await run("umount", ["-l", this.merged]);
    if (this.netns) {
      if (this.link) await run("ip", ["link", "del", this.link.outer]);
      await run("ip", ["netns", "del", this.netns]);
    }
  }
}
