// A real smart-HTTP git remote on 127.0.0.1 for tests: a small node HTTP
// server that runs git's own CGI, git-http-backend, per request. Supports
// fetch, ls-remote and push (receive-pack enabled), optional basic auth, and
// records requests so tests can count polls.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, dirname } from "node:path";

const HTTP_BACKEND = "/usr/lib/git-core/git-http-backend";

export interface ServeHttpOptions {
  /** Require HTTP basic auth with these credentials (401 otherwise). */
  auth?: { username: string; password: string };
  /** Address to listen on (default 127.0.0.1); "0.0.0.0" also serves test hosts on their own veth links. `url` still names 127.0.0.1. */
  listen?: string;
}

export interface HttpRemote {
  /** e.g. http://127.0.0.1:41234/fleet.git — usable with git ls-remote/fetch/clone/push. */
  url: string;
  /** `url` with the credentials embedded, when `auth` was given. */
  urlWithAuth: string;
  /** Every request seen so far (method and path with query). */
  requests: Array<{ method: string; path: string }>;
  close(): Promise<void>;
}

function sendCgiResponse(child: ReturnType<typeof spawn>, res: ServerResponse): void {
  let head = Buffer.alloc(0);
  let headersDone = false;
  child.stdout?.on("data", (chunk: Buffer) => {
    if (headersDone) {
      res.write(chunk);
      return;
    }
    head = Buffer.concat([head, chunk]);
    const crlf = head.indexOf("\r\n\r\n");
    const lf = head.indexOf("\n\n");
    const end = crlf !== -1 && (lf === -1 || crlf < lf) ? crlf : lf;
    if (end === -1) return;
    const sepLength = end === crlf ? 4 : 2;
    headersDone = true;
    let status = 200;
    for (const line of head.subarray(0, end).toString("latin1").split(/\r?\n/)) {
      const colon = line.indexOf(":");
      if (colon === -1) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 200;
      else res.setHeader(name, value);
    }
    res.writeHead(status);
    res.write(head.subarray(end + sepLength));
  });
  child.stdout?.on("end", () => {
    if (!headersDone) res.writeHead(502).end("git-http-backend sent no headers");
    else res.end();
  });
}

/** Serves the repo at `repoDir` (bare or not) over smart HTTP until close(). */
export async function serveHttp(repoDir: string, options: ServeHttpOptions = {}): Promise<HttpRemote> {
  if (!existsSync(HTTP_BACKEND)) {
    throw new Error(`${HTTP_BACKEND} is missing; install the Debian package "git". Tests never skip.`);
  }
  const projectRoot = dirname(repoDir);
  const name = basename(repoDir);
  const requests: HttpRemote["requests"] = [];
  const expectedAuth = options.auth
    ? `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString("base64")}`
    : undefined;

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    requests.push({ method: req.method ?? "GET", path: url.pathname + url.search });
    if (expectedAuth && req.headers.authorization !== expectedAuth) {
      res.writeHead(401, { "WWW-Authenticate": 'Basic realm="flotilla-test"' }).end("unauthorized\n");
      return;
    }
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: decodeURIComponent(url.pathname),
      REQUEST_METHOD: req.method ?? "GET",
      QUERY_STRING: url.search.replace(/^\?/, ""),
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      REMOTE_USER: options.auth?.username ?? "flotilla-test",
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.receivepack",
      GIT_CONFIG_VALUE_0: "true",
    };
    const protocol = req.headers["git-protocol"];
    if (typeof protocol === "string") env.GIT_PROTOCOL = protocol;
    const encoding = req.headers["content-encoding"];
    if (typeof encoding === "string") env.HTTP_CONTENT_ENCODING = encoding;
    const length = req.headers["content-length"];
    if (typeof length === "string") env.CONTENT_LENGTH = length;

    const child = spawn(HTTP_BACKEND, [], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", (error) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(`git-http-backend failed to start: ${error.message}\n`);
    });
    child.on("close", (code) => {
      if (code !== 0 && stderr) process.stderr.write(`git-http-backend (${req.method} ${req.url}): ${stderr}`);
    });
    sendCgiResponse(child, res);
    req.pipe(child.stdin);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, options.listen ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/${name}`;
  const urlWithAuth = options.auth
    ? `http://${encodeURIComponent(options.auth.username)}:${encodeURIComponent(options.auth.password)}@127.0.0.1:${port}/${name}`
    : url;

  return {
    url,
    urlWithAuth,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
