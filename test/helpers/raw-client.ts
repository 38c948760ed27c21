// A raw TCP client for abuse tests and benchmarks: what it wrote, what came
// back, and whether the server closed it (a refused connection resolves
// `closed` instead of throwing).
import net from "node:net";

export interface RawClient {
  sock: net.Socket;
  data: () => string;
  closed: Promise<void>;
  isClosed: () => boolean;
}

export function rawConnect(port: number, send?: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    let buf = "";
    let done = false;
    const sock = net.connect(port, "127.0.0.1");
    const closed = new Promise<void>((r) => sock.on("close", () => ((done = true), r())));
    sock.on("data", (d) => (buf += d.toString("latin1")));
    sock.on("error", () => undefined); // ECONNRESET from a refused connection: `closed` says it
    sock.once("connect", () => {
      if (send) sock.write(send);
      resolve({ sock, data: () => buf, closed, isClosed: () => done });
    });
    sock.once("error", (e) => (done ? undefined : reject(e)));
  });
}
