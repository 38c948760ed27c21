// A TCP port on 127.0.0.1 that was free a moment ago (bind to 0, read, close),
// for processes a test starts with a fixed address (controllers, agents' metrics).
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
