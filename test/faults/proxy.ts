// A reverse proxy on 127.0.0.1 between the agents and the controller, as an
// operator's nginx would stand there. It is the fault matrix's network
// boundary: it can drop every connection (a partition), refuse large bodies
// with an nginx-style 413 (client_max_body_size), and it records every
// transition event an agent sent (host, seq), so the matrix can prove that
// each one reached the controller's store: nothing lost.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type ProxyMode = { kind: "pass" } | { kind: "down" } | { kind: "cap"; maxBodyBytes: number };

export interface FaultProxy {
  url: string;
  mode: ProxyMode;
  /** Event seqs each host sent at least once. */
  sentEvents: Map<string, Set<number>>;
  /** How many requests the proxy refused with 413. */
  refused413: number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: () => string): Promise<FaultProxy> {
  const sockets = new Set<Socket>();
  const proxy: FaultProxy = { url: "", mode: { kind: "pass" }, sentEvents: new Map(), refused413: 0, close: async () => undefined };

  const record = (body: Buffer) => {
    try {
      const batch = JSON.parse(body.toString("utf8")) as { reports?: Array<{ payload?: string }> };
      for (const env of batch.reports ?? []) {
        const m = JSON.parse(env.payload ?? "{}") as { type?: string; host?: string; seq?: number };
        if (m.type !== "event" || typeof m.host !== "string" || typeof m.seq !== "number") continue;
        let set = proxy.sentEvents.get(m.host);
        if (!set) proxy.sentEvents.set(m.host, (set = new Set()));
        set.add(m.seq);
      }
    } catch {
      // not a report batch: nothing to record
    }
  };

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer | null) => {
    const t = new URL(target());
    const up = request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "text/html" });
      res.end("<html><body><h1>502 Bad Gateway</h1></body></html>");
    });
    res.on("close", () => up.destroy());
    if (body) up.end(body);
    else req.pipe(up);
  };

  const server: Server = createServer((req, res) => {
    if (proxy.mode.kind === "down") {
      req.socket.destroy();
      return;
    }
    if (req.method !== "POST") {
      forward(req, res, null);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      chunks.push(c);
      size += c.length;
    });
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.url?.endsWith("/reports")) record(body);
      if (proxy.mode.kind === "cap" && size > proxy.mode.maxBodyBytes) {
        proxy.refused413++;
        res.writeHead(413, { "content-type": "text/html" });
        res.end("<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413 Request Entity Too Large</h1></center><hr><center>nginx</center></body></html>");
        return;
      }
      forward(req, res, body);
    });
  });
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    if (proxy.mode.kind === "down") s.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  // Cutting the link also cuts the connections already open (long-polls).
  let mode: ProxyMode = { kind: "pass" };
  Object.defineProperty(proxy, "mode", {
    get: () => mode,
    set: (m: ProxyMode) => {
      mode = m;
      if (m.kind === "down") for (const s of sockets) s.destroy();
    },
  });
  return proxy;
}
