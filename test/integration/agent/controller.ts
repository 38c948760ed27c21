// A small real HTTP stand-in for the controller's agent API (the real one is
// another engineer's): POST /api/v1/reports verifies each envelope's
// signature, stores it idempotently by (host, seq) and acks the highest seq;
// POST /api/v1/gate answers from a test-provided function. It can go down
// (connection refused) and come back on the same port, or refuse while a
// predicate holds (a "broken network" after a bad activation).
import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { AgentMessage, GateQuery, SignedEnvelope, type AgentMessage as Msg, type GateAnswer } from "../../../schemas/src/api.js";
import { verifyEnvelope } from "../../../common/src/signing.js";

export interface TestController {
  url: string;
  /** Messages stored, in arrival order (after dedup). */
  messages: Msg[];
  events(): Extract<Msg, { type: "event" }>[];
  duplicates: number;
  gateQueries: GateQuery[];
  badSignatures: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface TestControllerOptions {
  hostKeys: Record<string, string>;
  gate?: (q: GateQuery) => GateAnswer | null;
  /** While this returns true, every connection is dropped (simulated lost network). */
  refuse?: () => boolean;
}

export async function startTestController(o: TestControllerOptions): Promise<TestController> {
  const messages: Msg[] = [];
  const seen = new Map<string, number>();
  const gateQueries: GateQuery[] = [];
  const sockets = new Set<Socket>();
  let port = 0;
  let server: Server | null = null;
  const ctl: TestController = {
    url: "",
    messages,
    duplicates: 0,
    gateQueries,
    badSignatures: 0,
    events: () => messages.filter((m): m is Extract<Msg, { type: "event" }> => m.type === "event"),
    async start() {
      server = createServer((req, res) => {
        if (o.refuse?.()) {
          req.socket.destroy();
          return;
        }
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          const send = (status: number, data: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(data));
          try {
            if (req.method === "POST" && req.url === "/api/v1/reports") {
              const batch = (JSON.parse(body) as { reports: unknown[] }).reports.map((r) => SignedEnvelope.parse(r));
              let accepted = 0;
              let dup = 0;
              let host = "";
              for (const env of batch) {
                host = env.host;
                const key = o.hostKeys[env.host];
                if (!key || !verifyEnvelope(env, key)) {
                  ctl.badSignatures++;
                  return send(401, { error: "BadSignature", message: "signature does not verify" });
                }
                const msg = AgentMessage.parse(JSON.parse(env.payload));
                if ((seen.get(msg.host) ?? 0) >= msg.seq) {
                  dup++;
                  ctl.duplicates++;
                  continue;
                }
                seen.set(msg.host, msg.seq);
                messages.push(msg);
                accepted++;
              }
              return send(200, { accepted, duplicates: dup, lastSeq: seen.get(host) ?? 0 });
            }
            if (req.method === "POST" && req.url === "/api/v1/gate") {
              const env = SignedEnvelope.parse(JSON.parse(body));
              const key = o.hostKeys[env.host];
              if (!key || !verifyEnvelope(env, key)) return send(401, { error: "BadSignature", message: "signature does not verify" });
              const q = GateQuery.parse(JSON.parse(env.payload));
              gateQueries.push(q);
              const answer = o.gate?.(q) ?? null;
              return answer ? send(200, answer) : send(503, { error: "Unavailable", message: "no answer" });
            }
            send(404, { error: "NotFound", message: req.url ?? "" });
          } catch (e) {
            send(400, { error: "BadRequest", message: (e as Error).message });
          }
        });
      });
      server.on("connection", (s) => {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
      });
      await new Promise<void>((resolve, reject) => {
        server!.once("error", reject);
        server!.listen(port, "127.0.0.1", () => resolve());
      });
      port = (server.address() as AddressInfo).port;
      ctl.url = `http://127.0.0.1:${port}`;
    },
    async stop() {
      if (!server) return;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server!.close(() => r()));
      server = null;
    },
    close: () => ctl.stop(),
  };
  await ctl.start();
  return ctl;
}
