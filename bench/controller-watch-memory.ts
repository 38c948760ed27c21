// Memory of the controller with 10,000 agents long-polling /api/v1/watch, and
// how fast a new commit reaches all of them. The controller runs in its own
// process (SQLite, 10,000-host fleet with no waves, so every host is in the
// first wave and is woken by a new head: the worst case); the client holds
// 10,000 raw keep-alive TCP connections, each with one pending GET /api/v1/watch
// (signed by its host's key, as agents sign it).
// Run: node --import tsx bench/controller-watch-memory.ts
import { connect, type Socket } from "node:net";
import { envelopeAuthorization } from "../common/src/signing.js";
import { cleanupTempDirs } from "../test/helpers/tmp.js";
import { fleetRepo, makeHosts, signAs, spawnController, TOKEN } from "./controller-lib.js";

const N = Number(process.env.AGENTS ?? 10_000);
const hosts = makeHosts(N);
const repo = await fleetRepo(hosts, 0);
const head = await repo.head();
const ctl = await spawnController(repo.url);
const { hostname, port } = new URL(ctl.url);
const gc = async () => new Promise((r) => setTimeout(r, 2_000));
await gc();
const idle = await ctl.rssMiB();

const sockets: Socket[] = [];
let answered = 0;
let lastAnswerAt = 0;
let connected = 0;
await new Promise<void>((resolve, reject) => {
  let i = 0;
  const openMore = () => {
    // open in slices so the listen backlog is never overrun
    for (const end = Math.min(i + 500, N); i < end; i++) {
      const h = hosts[i]!;
      const s = connect({ host: hostname, port: Number(port) }, () => {
        const auth = envelopeAuthorization(signAs(h, { type: "watch", host: h.name, since: head, time: new Date().toISOString() }));
        s.write(`GET /api/v1/watch?host=${h.name}&since=${head}&timeoutMs=600000 HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: ${auth}\r\n\r\n`);
        if (++connected === N) resolve();
      });
      let buf = "";
      s.on("data", (d) => {
        buf += d;
        if (buf.includes('"changed":true')) {
          answered++;
          lastAnswerAt = performance.now();
        }
      });
      s.on("error", reject);
      sockets.push(s);
    }
    if (i < N) setTimeout(openMore, 20);
  };
  openMore();
});

async function waiters(): Promise<number> {
  const res = await fetch(`${ctl.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return Number(/^flotilla_watch_waiters (\d+)/m.exec(await res.text())?.[1] ?? 0);
}
while ((await waiters()) < N) await new Promise((r) => setTimeout(r, 200));
await gc();
const busy = await ctl.rssMiB();
console.log(`controller RSS: ${idle.toFixed(0)} MiB idle (10,000-host fleet loaded) → ${busy.toFixed(0)} MiB with ${N} agents long-polling (+${(((busy - idle) * 1024) / N).toFixed(1)} KiB per agent)`);

// A new commit: the first agent to see it asks the gate; the controller fetches and nudges everyone.
const next = await repo.commit({ "README.md": "bench\n" }, "bench: new head");
const asker = hosts[N - 1]!;
const start = performance.now();
await fetch(`${ctl.url}/api/v1/gate`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify(signAs(asker, { type: "gate", host: asker.name, rev: next, time: new Date().toISOString(), nonce: "bench-nonce-1" })),
});
while (answered < N && performance.now() - start < 30_000) await new Promise((r) => setTimeout(r, 10));
console.log(`new commit → ${answered}/${N} agents nudged ${(lastAnswerAt - start).toFixed(0)} ms after the gate query that made the controller fetch (includes git fetch)`);
for (const s of sockets) s.destroy();
await ctl.stop();
await cleanupTempDirs();
