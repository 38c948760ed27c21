// The stand-in health target for `http` checks: a real HTTP server on
// 127.0.0.1 that reports each fixture host's health from the state dir its
// switch-to-configuration / build-legacy wrote (<state>/<host>/health).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readHostState } from "./fixture-state.js";

export interface HealthServer {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  /** `${url}/health/${host}` */
  urlFor(host: string): string;
  close(): Promise<void>;
}

/**
 * GET /health/<host> → 200 "ok <revision>" when <state>/<host>/health is "ok",
 * else 503 "bad <revision>" (or 503 "unknown" before the host was ever activated).
 * Anything else → 404.
 */
export async function startHealthServer(stateDir: string): Promise<HealthServer> {
  const server = createServer((req, res) => {
    const match = /^\/health\/([A-Za-z0-9._-]+)\/?$/.exec(new URL(req.url ?? "/", "http://x").pathname);
    if (req.method !== "GET" || !match?.[1]) {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    readHostState(stateDir, match[1]).then(
      (state) => {
        const status = state.health === "ok" ? 200 : 503;
        const body = state.health === undefined ? "unknown" : `${state.health} ${state.currentRevision ?? "none"}`;
        res.writeHead(status, { "content-type": "text/plain" }).end(`${body}\n`);
      },
      (error: Error) => res.writeHead(500, { "content-type": "text/plain" }).end(`${error.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    urlFor: (host) => `${url}/health/${host}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
