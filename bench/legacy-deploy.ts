// The legacy deploy's overhead on a real host (test/hosts): the agent,
// installed by nix/install-legacy-agent.sh as the deploy user's systemd
// --user service, deploying a new revision of the test fleet (git fetch into
// its cache, one `nix eval` of the app and `nix-store --realise` of what its
// program needs, then that program run in the project dir, which writes and
// restarts webapp.service), against the floor it wraps:
// the same deploy by hand in the same host as the same user, `git fetch` +
// `git checkout` of a new revision in a clone and `nix run .#build-legacy`
// (whose `systemctl --user restart webapp.service` is part of the app).
// Each sample is a fresh revision on both sides (the revision is baked into
// the app, so Nix builds it each time). The agent's time is measured from
// its own state: from the start of the fetch to the `done` transition,
// minus the health checks (`verify`, policy the bare deploy does not have).
// Needs root. Run:
//   node --import tsx bench/legacy-deploy.ts [SAMPLES]
// BENCH_AGENT_NIX_CONFIG puts NIX_CONFIG in the agent's env file (the bare
// side runs with `substituters =`; e.g. BENCH_AGENT_NIX_CONFIG='substituters =').
import { agentStatus, installLegacyAgent, waitFor } from "../test/hosts/agent-setup.js";
import { TestBed } from "../test/hosts/harness.js";
import { makeFleetRepo, serveHttp } from "../test/helpers/git-repo.js";
import { cleanupTempDirs } from "../test/helpers/tmp.js";

const SAMPLES = Number(process.argv[2] ?? 5);
const STATE = "/home/deploy/fixture";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const bed = await TestBed.create();
const repo = await makeFleetRepo({ template: true });
const remote = await serveHttp(repo.dir);
try {
  const h = await bed.boot("legacy-1");
  const hostKey = (await h.readFile("/etc/ssh/ssh_host_ed25519_key.pub")).trim();
  const fleet = {
    version: 1,
    policy: { branch: "main" },
    agent: { pollInterval: "1s", jitter: "100ms", keepGenerations: 3 },
    hosts: [
      {
        name: "legacy-1",
        kind: "legacy",
        hostKey,
        user: "deploy",
        projectDir: "/home/deploy/app",
        checks: [{ type: "systemd", name: "webapp", unit: "webapp.service", user: true, interval: "200ms", timeout: "5s", deadline: "10s" }],
      },
    ],
  };
  await h.writeFile("/home/deploy/app/.env.production", "SERVICE_NAME=prod\n", { user: "deploy" });
  let rev = await repo.commit({ "fleet.yaml": JSON.stringify(fleet, null, 2) }, "bench fleet");
  const inst = await installLegacyAgent(h, { host: "legacy-1", remote: remote.url, agentEnv: { FLOTILLA_FIXTURE_STATE: STATE, FLOTILLA_FIXTURE_UNITS: "1", ...(process.env.BENCH_AGENT_NIX_CONFIG ? { NIX_CONFIG: process.env.BENCH_AGENT_NIX_CONFIG } : {}) } });
  const deployed = (r: string) => waitFor(`legacy-1 done on ${r.slice(0, 12)}`, async () => {
    const s = await agentStatus(h, inst);
    if (s.phase === "rolledBack" || s.phase === "failed") throw new Error(JSON.stringify(s.lastOutcome));
    return s.current?.rev === r && s.phase === "done";
  }, 300_000, 100);
  await deployed(rev);
  // The hand-made floor works in its own clone, on a branch the agent does not follow.
  await h.sh(`git clone -q ${remote.url} /home/deploy/src && git -C /home/deploy/src config user.email b@x && git -C /home/deploy/src config user.name b`, { user: "deploy" });

  const agentMs: number[] = [];
  const bareMs: number[] = [];
  const verifyMs: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    rev = await repo.commit({ "markers/legacy-1/note": `agent ${i}\n` }, `agent sample ${i}`);
    await deployed(rev);
    const st = JSON.parse(await h.readFile(`${inst.stateDir}/state.json`)) as {
      cycle: { startedAt: string; durations: Record<string, number> };
      lastOutcome: { time: string; outcome: string };
    };
    const d = st.cycle.durations;
    const wall = Date.parse(st.lastOutcome.time) - Date.parse(st.cycle.startedAt) + (d.fetch ?? 0);
    agentMs.push(wall - (d.verify ?? 0));
    verifyMs.push(d.verify ?? 0);

    const side = await repo.commit({ "markers/legacy-1/note": `bare ${i}\n` }, `bare sample ${i}`, { branch: "bench" });
    const r = await h.sh(
      `cd /home/deploy/app && s=$(date +%s%N) && git -C /home/deploy/src fetch -q origin bench && git -C /home/deploy/src checkout -q ${side} && g=$(date +%s%N) && FLOTILLA_FIXTURE_STATE=${STATE} FLOTILLA_FIXTURE_UNITS=1 nix run --no-eval-cache /home/deploy/src#build-legacy -- legacy-1 >/dev/null 2>&1 && e=$(date +%s%N) && echo $(( (e - s) / 1000000 )) $(( (g - s) / 1000000 ))`,
      { user: "deploy", env: { NIX_CONFIG: "experimental-features = nix-command flakes\nsubstituters =\nwarn-dirty = false" } },
    );
    const [bareTotal, bareGit] = r.stdout.trim().split(" ").map(Number) as [number, number];
    bareMs.push(bareTotal);
    if ((await h.exec(["cat", `${STATE}/legacy-1/app-revision`])).stdout.trim() !== side) throw new Error("the bare deploy did not start webapp.service on its revision");
    console.log(
      `sample ${i + 1}: agent ${agentMs[i]} ms (fetch ${d.fetch} + build: nix eval and nix-store --realise of the app ${d.build} + activate: the app ${d.activate} + the rest ${agentMs[i]! - (d.fetch ?? 0) - (d.build ?? 0) - (d.activate ?? 0)}; verify ${verifyMs[i]} ms after), bare ${bareTotal} ms (git fetch + checkout ${bareGit} + nix run ${bareTotal - bareGit})`,
    );
  }
  // BENCH_LOG=1: the agent's own log of the last sample (every command it ran, with its ms).
  if (process.env.BENCH_LOG) console.log((await h.exec(["journalctl", "--no-pager", "-o", "short-precise", "-n", "60", "_SYSTEMD_USER_UNIT=flotilla-agent.service"], { check: false })).stdout);
  const a = median(agentMs);
  const b = median(bareMs);
  console.log(`median agent deploy (fetch → done, minus verify): ${a} ms; median bare git fetch + checkout + nix run .#build-legacy: ${b} ms`);
  console.log(`ratio ${(a / b).toFixed(2)}×, overhead ${a - b} ms (target ≤ 1.1× + 300 ms: ${a <= 1.1 * b + 300 ? "met" : "NOT met"}); health checks add a median ${median(verifyMs)} ms`);
} finally {
  await remote.close();
  await bed.close();
  await cleanupTempDirs();
}
