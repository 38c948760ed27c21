/**
 * `npm run demo` (scripts/demo.sh runs this after building): a controller on
 * SQLite and five agents as real local processes, rolling out a local fleet
 * repo through six acts. Exits 0 only when every expected outcome was
 * observed. `--keep` leaves everything running to explore.
 *
 *   node --import tsx demo/main.ts [--keep] [--dir DIR]
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { act1, act2, act3, act4, act5, createInitialCommits, type Ctx } from "./acts.js";
import { DemoFailure, Narrator, Observer } from "./observe.js";
import { Procs, tail, waitForLog } from "./procs.js";
import { BUILD_ROOT, flotilla, flotillaCli, HOSTS, initRepo, makeWorld, REPO_ROOT, writeAgentConfig, writeControllerConfig, type World } from "./world.js";

const USAGE = `usage: npm run demo [-- --keep]

  --keep       leave the controller, agents and health server running afterwards
               (stop them with the stop.sh printed at the end)
  --dir DIR    put everything under DIR (default: a new temp dir)
  --act-deadline SECONDS   per-act deadline (default 120)
`;

interface Args {
  keep: boolean;
  dir: string | null;
  actDeadlineMs: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { keep: false, dir: null, actDeadlineMs: 120_000 };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === "--keep") a.keep = true;
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

async function run(args: Args, procs: Procs, n: Narrator): Promise<{ w: World; controllerUrl: string }> {
  const root = args.dir!;
  for (const f of ["dist/controller/src/cli.js", "dist/node-agent/src/main.js"]) {
    if (!existsSync(join(BUILD_ROOT, f))) throw new DemoFailure(`${join(BUILD_ROOT, f)} is missing: build first (npm run build, or npm run demo, which builds)`);
  }
  n.heading(`Setup — everything lives under ${root}`);
  const w = await makeWorld(root);
  n.line(`host keys: ssh-keygen -t ed25519 for ${HOSTS.join(", ")}; age recipients via \`flotilla keys recipient\``);

  const health = procs.spawn("health-server", [process.execPath, "--import", "tsx", join(REPO_ROOT, "demo/health-server.ts"), w.fixtureState], w.env, REPO_ROOT);
  const healthUrl = (await waitForLog(health, /listening on (http:\/\/\S+)/, 30_000))[1]!;
  n.line(`health server (GET /health/<host> from the stand-in systems' state): ${healthUrl}`);

  await initRepo(w);
  const c: Ctx = { w, n, o: null as unknown as Observer, healthUrl, pollIntervalMs: 1_000, actDeadlineMs: args.actDeadlineMs, revs: {}, gens: {} };
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

  for (const h of HOSTS) {
    writeAgentConfig(w, h, controllerUrl);
    procs.spawn(h, agentArgv(w.hosts[h].config), { ...w.env, FLOTILLA_DEMO_HOST: h }, REPO_ROOT, 2);
  }
  n.line(`agents: 5 × \`flotilla-agent run\` (bin/flotilla-agent.js), poll 1s, own state dir, host key, secrets root`);
  n.line("NixOS hosts: activation \"direct\" (nix build the toplevel, nix-env --set on the host's own profile, switch-to-configuration); legacy-1: .#build-legacy built (nix eval + nix-store --realise), its program run in its project dir");
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
    const counts = HOSTS.map((h) => `${h} ${(readFileSync(join(w.logs, `${h}.log`), "utf8").match(/flotilla-agent\.watch: nudged/g) ?? []).length}`);
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

async function mainEntry(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const n = new Narrator();
  let logDir: string | null = null;
  let procs: Procs | null = null;
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\ndemo: ${sig}: stopping every process it started\n`);
    void (procs?.stopAll(1_500) ?? Promise.resolve()).finally(() => process.exit(130));
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
  try {
    const { w, controllerUrl } = await run({ ...args, dir: root }, procs, n);
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
      await procs.stopAll();
      process.stdout.write(`All processes stopped. Files kept for inspection in ${root} (logs/, status.md, audit.md); remove with rm -rf ${root}\n`);
    }
    return 0;
  } catch (e) {
    const msg = e instanceof DemoFailure ? e.message : (e as Error).stack ?? String(e);
    n.fail(`DEMO FAILED: ${msg}`);
    for (const p of procs.list) process.stdout.write(`\n--- last lines of ${p.log}${p.exited ? ` (exited ${p.exitCode})` : ""}\n${tail(p.log, 20)}\n`);
    if (args.keep) {
      const stop = join(root, "stop.sh");
      await procs.writeStopScript(stop, root);
      procs.detachAll();
      process.stdout.write(`\n--keep: processes left running; stop them with sh ${stop}\n`);
    } else {
      await procs.stopAll();
    }
    process.stdout.write(`\nDEMO FAILED. Files in ${root}\n`);
    return 1;
  }
}

process.exitCode = await mainEntry();
