// A webhook receiver on 127.0.0.1 for the notification tests: records every
// request (headers, body), answers with a status the test sets, and can go
// down (the port then refuses connections) and come back on the same port.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status it was answered with. */
  status: number;
}

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  /** Answer for the next requests. */
  status = 200;
  port = 0;
  private server: Server | null = null;

  static async start(port = 0): Promise<WebhookReceiver> {
    const r = new WebhookReceiver();
    await r.up(port);
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** The requests answered 2xx, in arrival order. */
  get accepted(): ReceivedRequest[] {
    return this.requests.filter((r) => r.status >= 200 && r.status < 300);
  }

  async up(port = this.port): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const status = this.status;
        this.requests.push({ path: req.url ?? "", headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), status });
        res.writeHead(status, { "content-type": "text/plain" }).end(status < 300 ? "ok" : "nope");
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** Stops listening: connections to the port are refused until up(). */
  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}
