// A real HTTP binary cache on 127.0.0.1 for tests: GET/HEAD serve files
// from a directory, PUT stores them (what `nix copy --to http://…` sends for
// nix-cache-info, .narinfo and nar/*), 404 for what is not there. The same
// directory is also a valid file:// cache.
import { createReadStream } from "node:fs";
import { mkdir, stat, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, normalize } from "node:path";

export interface CacheServer {
  url: string;
  dir: string;
  /** Requests seen, as "METHOD /path status". */
  requests: string[];
  /** Body bytes sent (GET) and received (PUT) so far. */
  bytes: { out: number; in: number };
  close(): Promise<void>;
}

export async function startCacheServer(dir: string): Promise<CacheServer> {
  await mkdir(dir, { recursive: true });
  const requests: string[] = [];
  const bytes = { out: 0, in: 0 };
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent((req.url ?? "/").split("?")[0]!));
    const file = join(dir, path);
    const done = (status: number) => {
      requests.push(`${req.method} ${path} ${status}`);
    };
    if (!file.startsWith(dir) || path.includes("..")) {
      res.writeHead(400).end();
      return done(400);
    }
    if (req.method === "PUT") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        bytes.in += chunks.reduce((n, c) => n + c.length, 0);
        void mkdir(dirname(file), { recursive: true })
          .then(() => writeFile(file, Buffer.concat(chunks)))
          .then(() => {
            res.writeHead(200).end();
            done(200);
          });
      });
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405).end();
      return done(405);
    }
    void stat(file).then(
      (s) => {
        if (!s.isFile()) {
          res.writeHead(404).end();
          return done(404);
        }
        res.writeHead(200, { "content-length": s.size });
        done(200);
        if (req.method === "HEAD") res.end();
        else {
          bytes.out += s.size;
          createReadStream(file).pipe(res);
        }
      },
      () => {
        res.writeHead(404).end();
        done(404);
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    dir,
    requests,
    bytes,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
