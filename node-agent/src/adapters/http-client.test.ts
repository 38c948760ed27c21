import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HttpClientError, httpCall } from "./http-client.js";

let server: Server | null = null;
afterEach(() => new Promise<void>((r) => (server ? (server.closeAllConnections(), server.close(() => r())) : r())));

/** A real HTTP server on 127.0.0.1. */
async function serve(handler: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<string> {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => handler(req, body, res));
  });
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server!.address() as { port: number }).port}`;
}

const rejection = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as HttpClientError);

describe("httpCall", () => {
  it("POSTs a JSON body and answers status + text for any status, reusing one kept-alive connection", async () => {
    const seen: Array<{ method?: string; type?: string; body: string; port?: number }> = [];
    const url = await serve((req, body, res) => {
      seen.push({ method: req.method, type: req.headers["content-type"], body, port: req.socket.remotePort });
      res.writeHead(seen.length === 1 ? 200 : 409).end(`answer ${seen.length}`);
    });
    expect(await httpCall(`${url}/api`, { method: "POST", json: { a: "é" } })).toEqual({ status: 200, ok: true, text: "answer 1", date: expect.any(String) });
    expect(await httpCall(`${url}/api`, { method: "POST", json: [1] })).toEqual({ status: 409, ok: false, text: "answer 2", date: expect.any(String) });
    expect(seen.map((s) => [s.method, s.type, s.body])).toEqual([
      ["POST", "application/json", '{"a":"é"}'],
      ["POST", "application/json", "[1]"],
    ]);
    expect(seen[1]!.port).toBe(seen[0]!.port);
  });

  it("does not follow redirects, and can leave a body unread", async () => {
    const url = await serve((_req, _body, res) => {
      res.writeHead(302, { location: "/elsewhere" });
      res.write("x".repeat(1000)); // never ended: only the status line matters
    });
    expect(await httpCall(`${url}/health`, { discardBody: true, timeoutMs: 2000 })).toEqual({ status: 302, ok: false, text: "", date: expect.any(String) });
  });

  it("rejects on a timeout, an abort and a refused connection, naming method, origin and path only", async () => {
    const url = await serve(() => undefined); // never answers
    const t0 = Date.now();
    const timeout = await rejection(httpCall(`${url}/slow?token=s3cret`, { timeoutMs: 200 }));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(timeout).toMatchObject({ code: "TIMEOUT", message: `GET ${url}/slow: no answer within 200 ms` });

    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    expect(await rejection(httpCall(`${url}/watch`, { signal: ac.signal }))).toMatchObject({ code: "ABORTED" });
    expect(await rejection(httpCall(`${url}/watch`, { signal: AbortSignal.abort() }))).toMatchObject({ code: "ABORTED" });

    const port = Number(new URL(url).port);
    await new Promise<void>((r) => server!.close(() => r()));
    server = null;
    const refused = await rejection(httpCall(`http://user:s3cret@127.0.0.1:${port}/api/v1/reports?x=s3cret`, { method: "POST", json: {} }));
    expect(refused).toMatchObject({ code: "ECONNREFUSED", message: `POST http://127.0.0.1:${port}/api/v1/reports: ECONNREFUSED` });
    expect(refused!.message).not.toContain("s3cret");
  });

  it("rejects an answer cut short and one larger than maxBytes", async () => {
    const url = await serve((req, _body, res) => {
      if (req.url === "/big") return res.end("y".repeat(5000));
      res.writeHead(200, { "content-length": "100" }).write("partial");
      setTimeout(() => req.socket.destroy(), 20);
    });
    expect(await rejection(httpCall(`${url}/cut`))).toMatchObject({ code: "ECONNRESET" });
    expect(await rejection(httpCall(`${url}/big`, { maxBytes: 1000 }))).toMatchObject({ code: "TOO_LARGE" });
  });

  it("retries once when the server closed the kept-alive connection just as it was reused", async () => {
    const sockets = new Set<Socket>();
    let n = 0;
    const url = await serve((_req, _body, res) => {
      n++;
      res.end(`ok ${n}`);
    });
    server!.on("connection", (s: Socket) => sockets.add(s));
    expect((await httpCall(`${url}/a`)).text).toBe("ok 1");
    // The server drops the idle connection without the client having noticed yet.
    for (const s of sockets) s.resetAndDestroy();
    expect((await httpCall(`${url}/a`, { method: "POST", json: {} })).text).toBe("ok 2");
  });
});
