/**
 * `npm run demo` (scripts/demo.sh runs this after building): a controller on
 * SQLite and five agents as real local processes, rolling out a local fleet
 * repo through six acts. Exits 0 only when every expected outcome was
 * observed. `--keep` leaves everything running to explore.
 *
 * `--hosts` (root): the same acts with the five agents on Debian hosts booted
 * with systemd as PID 1 under systemd-nspawn (demo/hosts.ts); the controller,
 * health server and fleet remote stay processes on this machine.
 *
 *   node --import tsx demo/main.ts [--keep | --hosts] [--dir DIR]
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { act1, act2, act3, act4, act5, createInitialCommits, type Ctx } from "./acts.js";
import type { DemoHosts } from "./hosts.js";
import { localMachines, type Machines } from "./machine.js";
import { DemoFailure, Narrator, Observer } from "./observe.js";
import { Procs, tail, waitForLog } from "./procs.js";
import { BUILD_ROOT, flotilla, flotillaCli, HOSTS, initRepo, makeWorld, REPO_ROOT, writeAgentConfig, writeControllerConfig, type HostName, type World } from "./world.js";

const USAGE = `usage: npm run demo [-- --keep | --hosts]

  --keep       leave the controller, agents and health server running afterwards
               (stop them with the stop.sh printed at the end)
  --hosts      run the agents on five Debian hosts booted with systemd as PID 1
               under systemd-nspawn (needs root; see docs/testing-hosts.md).
               Everything is powered off and unmounted at the end (no --keep)
  --dir DIR    put everything under DIR (default: a new temp dir)
  --act-deadline SECONDS   per-act deadline (default 120; 300 with --hosts)
`;

interface Args {
  keep: boolean;
  hosts: boolean;
  dir: string | null;
  actDeadlineMs: number | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { keep: false, hosts: false, dir: null, actDeadlineMs: null };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === "--keep") a.keep = true;
    else if (x === "--hosts") a.hosts = true;
    else if (x === "--dir") a.dir = argv[++i] ?? null;
    else if (x === "--act-deadline") a.actDeadlineMs = Number(argv[++i]) * 1000;
    else if (x === "-h" || x === "--help") {
      process.stdout.write(USAGE);
      process.exit(0);
    } else {
      process.stderr.write(`demo: unknown argument ${x}\n${USAGE}`);
      process.exit(2);
    }
  }
  if (a.keep && a.hosts) {
    process.stderr.write("demo: --keep cannot be combined with --hosts: the hosts are booted from overlays of the test bed and are always powered off and unmounted at the end. Run `npm run demo -- --keep` to explore the process demo.\n");
    process.exit(2);
  }
  if (a.hosts && process.getuid?.() !== 0) {
    process.stderr.write("demo: --hosts needs root (systemd-nspawn, overlayfs mounts, cgroups, nsenter); re-run as root, e.g. sudo npm run demo -- --hosts\n");
    process.exit(2);
  }
  return a;
}

/** Does the built agent follow the controller's long-poll nudge? */
function agentFollowsNudges(): boolean {
  const main = join(BUILD_ROOT, "dist/node-agent/src/main.js");
  return existsSync(main) && readFileSync(main, "utf8").includes("Watch");
}

function agentArgv(configPath: string): string[] {
  return [process.execPath, join(BUILD_ROOT, "bin/flotilla-agent.js"), "run", "--config", configPath];
}

/** Where the agents run: local processes (default) or booted hosts (--hosts). */
interface Fleet {
  machines(w: World): Machines;
  /** Starts the five agents against the controller; narrates how. */
  startAgents(w: World, controllerUrl: string, n: Narrator): Promise<void>;
  /** One agent's log (file or journal), for the nudge count and failure reports. */
  agentLog(w: World, h: HostName): Promise<string>;
}

function processFleet(procs: Procs): Fleet {
  return {
    machines: (w) => localMachines(w),
    async startAgents(w, controllerUrl, n) {
      for (const h of HOSTS) {
        writeAgentConfig(w, h, controllerUrl);
        procs.spawn(h, agentArgv(w.hosts[h].config), { ...w.env, FLOTILLA_DEMO_HOST: h }, REPO_ROOT, 2);
      }
      n.line(`agents: 5 × \`flotilla-agent run\` (bin/flotilla-agent.js), poll 1s, own state dir, host key, secrets root`);
      n.line("NixOS hosts: activation \"direct\" (nix build the toplevel, nix-env --set on the host's own profile, switch-to-configuration); legacy-1: .#build-legacy built (nix eval + nix-store --realise), its program run in its project dir");
    },
    agentLog: async (w, h) => readFileSync(join(w.logs, `${h}.log`), "utf8"),
  };
}

function hostsFleet(hosts: DemoHosts): Fleet {
  return {
    machines: () => hosts.machines(),
    async startAgents(w, controllerUrl, n) {
      const t = Date.now();
      const remote = await hosts.startAgents(w, controllerUrl);
      n.line(`fleet remote for the hosts: git smart HTTP on ${remote}`);
      n.line(`agents installed and started in ${((Date.now() - t) / 1000).toFixed(1)}s, as the docs say (docs/operations.md §3):`);
      n.note("canary-1, web-1, web-2, db-1: the NixOS module's flotilla-agent.service (rendered from nix/modules/agent.nix), a system unit running as root");
      n.note("legacy-1: nix/install-legacy-agent.sh as user deploy, a systemd --user unit in deploy's lingering user manager");
      n.line("activations install and restart a real webapp.service (a system unit; deploy's --user unit on legacy-1); secrets restart it too");
      n.note("no host runs the app before its first deploy: a secret's restartUnits naming a unit that deploy installs is skipped (not loaded yet), and the switch starts it");
    },
    agentLog: (_w, h) => hosts.agentLog(h),
  };
}

async function run(args: Args, procs: Procs, n: Narrator, hosts: DemoHosts | null): Promise<{ w: World; controllerUrl: string }> {
  const root = args.dir!;
  for (const f of ["dist/controller/src/cli.js", "dist/node-agent/src/main.js"]) {
    if (!existsSync(join(BUILD_ROOT, f))) throw new DemoFailure(`${join(BUILD_ROOT, f)} is missing: build first (npm run build, or npm run demo, which builds)`);
  }
  n.heading(`Setup — everything lives under ${root}`);
  let w: World;
  if (hosts) {
    const { HOSTS_SITE } = await import("./hosts.js");
    const t = Date.now();
    await hosts.boot((base) => n.line(`base rootfs (Debian bookworm, debootstrap, cached): ${base}`));
    n.line(`booted ${HOSTS.join(", ")} in ${((Date.now() - t) / 1000).toFixed(1)}s: systemd-nspawn, systemd as PID 1, one overlayfs each (${hosts.workDir})`);
    n.note("to look inside while the demo runs (as root; everything is powered off at the end):");
    for (const l of hosts.describe()) n.note(l);
    w = await makeWorld(root, { site: HOSTS_SITE, hostKeys: hosts.hostKeys() });
    hosts.linkFixtureState(w);
    n.line("host keys: each host's own /etc/ssh/ssh_host_ed25519_key; age recipients via `flotilla keys recipient`");
  } else {
    w = await makeWorld(root);
    n.line(`host keys: ssh-keygen -t ed25519 for ${HOSTS.join(", ")}; age recipients via \`flotilla keys recipient\``);
  }
  const fleet = hosts ? hostsFleet(hosts) : processFleet(procs);

  const health = procs.spawn("health-server", [process.execPath, "--import", "tsx", join(REPO_ROOT, "demo/health-server.ts"), w.fixtureState], w.env, REPO_ROOT);
  const healthUrl = (await waitForLog(health, /listening on (http:\/\/\S+)/, 30_000))[1]!;
  n.line(`health server (GET /health/<host> from the stand-in systems' state): ${healthUrl}`);

  await initRepo(w);
  const actDeadlineMs = args.actDeadlineMs ?? (hosts ? 300_000 : 120_000);
  const c: Ctx = { w, n, o: null as unknown as Observer, m: fleet.machines(w), healthUrl, pollIntervalMs: 1_000, actDeadlineMs, revs: {}, gens: {} };
  await createInitialCommits(c);
  n.line(`fleet repo ${w.repo}: test/fixtures/fleet/ + fleet.yaml + secrets/app.yaml (\`flotilla secrets encrypt\` to 5 host recipients)`);
  n.line(`  C0 ${c.revs.C0!.slice(0, 7)} initial fleet   C1 ${c.revs.C1!.slice(0, 7)} pin db-1 to C0`);
  const validate = await flotilla(w, ["validate", w.repo]);
  n.line(`flotilla validate: ${validate.trim().split("\n").pop()}`);

  writeControllerConfig(w);
  const controller = procs.spawn("controller", [...flotillaCli(), "serve", "--config", w.controllerConfig], w.env, REPO_ROOT, 1);
  const controllerUrl = (await waitForLog(controller, /listening on (http:\/\/\S+)/, 60_000))[1]!;
  n.line(`controller: \`flotilla serve\` on ${controllerUrl} (SQLite ${join(w.controllerDir, "flotilla.db")}; follows the repo every 1s)`);
  c.o = new Observer({ base: controllerUrl, token: w.operatorToken }, n);

  await fleet.startAgents(w, controllerUrl, n);
  const nudged = agentFollowsNudges();
  n.note(
    nudged
      ? "the controller's nudge is on: each agent long-polls GET /api/v1/watch and wakes on a new head or an opened wave; polling every 1 s is the fallback"
      : "the controller's nudge (GET /api/v1/watch) is served, but this agent build does not long-poll it: agents find new commits by polling (1 s)",
  );

  await act1(c);
  await act2(c);
  await act3(c);
  await act4(c);
  await act5(c);

  if (nudged) {
    const counts = await Promise.all(HOSTS.map(async (h) => `${h} ${((await fleet.agentLog(w, h)).match(/flotilla-agent\.watch: nudged/g) ?? []).length}`));
    n.note(`nudges the agents acted on (their logs): ${counts.join(", ")}`);
  }

  n.heading("Act 6 — the fleet report");
  const [cmd, ...pre] = flotillaCli();
  const status = await execa(cmd!, [...pre, "status", "--controller", controllerUrl, "--token", w.operatorToken], { env: w.env, reject: false });
  process.stdout.write(status.stdout.endsWith("\n") ? status.stdout : `${status.stdout}\n`);
  if (status.exitCode !== 0) throw new DemoFailure(`\`flotilla status\` should exit 0 with the fleet healthy on C4; it exited ${status.exitCode}: ${status.stderr}`);
  const md = await flotilla(w, ["status", "--controller", controllerUrl, "--token", w.operatorToken, "--markdown"]);
  writeFileSync(join(root, "status.md"), md);
  writeFileSync(join(root, "audit.md"), await flotilla(w, ["audit", "--controller", controllerUrl, "--token", w.operatorToken, "--markdown"]));
  n.line(`Markdown status saved to ${join(root, "status.md")} (audit trail: ${join(root, "audit.md")})`);
  const dash = await fetch(`${controllerUrl}/`, { headers: { authorization: `Bearer ${w.operatorToken}` } });
  const html = await dash.text();
  if (dash.status !== 200 || !HOSTS.every((h) => html.includes(h))) throw new DemoFailure(`the dashboard should list every host; GET / answered ${dash.status}`);
  n.line(`dashboard: ${controllerUrl}/?token=${w.operatorToken}`);
  return { w, controllerUrl };
}

/** Saves each host's agent journal under logs/ (the hosts' overlays go away at the end). */
async function saveHostJournals(hosts: DemoHosts, logDir: string): Promise<string[]> {
  const files: string[] = [];
  for (const h of HOSTS) {
    const f = join(logDir, `${h}.journal.log`);
    try {
      writeFileSync(f, await hosts.agentLog(h));
      files.push(f);
    } catch {
      // not booted
    }
  }
  return files;
}

async function mainEntry(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const n = new Narrator();
  let logDir: string | null = null;
  let procs: Procs | null = null;
  let hosts: DemoHosts | null = null;
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\ndemo: ${sig}: stopping every process it started${hosts ? " and powering off its hosts" : ""}\n`);
    void (procs?.stopAll(1_500) ?? Promise.resolve())
      .then(() => hosts?.close())
      .catch((e: Error) => process.stdout.write(`demo: cleaning up: ${e.message}\n`))
      .finally(() => process.exit(130));
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  process.on("exit", () => {
    if (!args.keep) procs?.killAllNow();
  });

  const root = args.dir ?? mkdtempSync(join(tmpdir(), "flotilla-demo-"));
  logDir = join(root, "logs");
  await import("node:fs").then((fs) => fs.mkdirSync(logDir!, { recursive: true }));
  procs = new Procs(logDir);
  if (args.hosts) hosts = new (await import("./hosts.js")).DemoHosts();
  try {
    const { w, controllerUrl } = await run({ ...args, dir: root }, procs, n, hosts);
    const secs = ((Date.now() - n.t0) / 1000).toFixed(1);
    process.stdout.write(`\nDEMO PASSED in ${secs}s: every expected outcome was observed.\n`);
    if (args.keep) {
      const stop = join(root, "stop.sh");
      await procs.writeStopScript(stop, root);
      procs.detachAll();
      process.stdout.write(
        [
          "",
          "Still running (--keep):",
          `  controller  ${controllerUrl}   dashboard ${controllerUrl}/?token=${w.operatorToken}`,
          `  status      node bin/flotilla.js status --controller ${controllerUrl} --token ${w.operatorToken}`,
          `  agents      ${HOSTS.join(", ")} (logs in ${logDir}; configs ${w.root}/hosts/<host>/agent.json)`,
          `  fleet repo  ${w.repo} (commit to main and watch it roll out)`,
          `  stop        sh ${stop}`,
          "",
        ].join("\n"),
      );
    } else {
      if (hosts) await saveHostJournals(hosts, logDir);
      await procs.stopAll();
      if (hosts) {
        await hosts.close();
        process.stdout.write("All hosts powered off, their cgroups removed and overlays unmounted.\n");
      }
      process.stdout.write(`All processes stopped. Files kept for inspection in ${root} (logs/, status.md, audit.md); remove with rm -rf ${root}\n`);
    }
    return 0;
  } catch (e) {
    const msg = e instanceof DemoFailure ? e.message : (e as Error).stack ?? String(e);
    n.fail(`DEMO FAILED: ${msg}`);
    const journals = hosts ? await saveHostJournals(hosts, logDir) : [];
    for (const p of procs.list) process.stdout.write(`\n--- last lines of ${p.log}${p.exited ? ` (exited ${p.exitCode})` : ""}\n${tail(p.log, 20)}\n`);
    for (const f of journals) process.stdout.write(`\n--- last lines of ${f}\n${tail(f, 20)}\n`);
    if (args.keep) {
      const stop = join(root, "stop.sh");
      await procs.writeStopScript(stop, root);
      procs.detachAll();
      process.stdout.write(`\n--keep: processes left running; stop them with sh ${stop}\n`);
    } else {
      await procs.stopAll();
      await hosts?.close().catch((err: Error) => process.stdout.write(`\ncleaning up the hosts: ${err.message}\n`));
    }
    process.stdout.write(`\nDEMO FAILED. Files in ${root}\n`);
    return 1;
  }
}

process.exitCode = await mainEntry();
