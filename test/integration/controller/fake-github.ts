// A local HTTP server answering the few GitHub REST endpoints the controller
// uses (commit statuses, PRs of a commit, a PR, a branch), with ETags. This is
// the only fake in the controller's tests: GitHub's servers are not reachable.
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakePr {
  number: number;
  title: string;
  author: string;
  mergedBy: string;
  commits: string[];
}

export interface PostedStatus {
  sha: string;
  state: string;
  description: string;
  context: string;
  target_url?: string;
}

export interface FakeGitHub {
  url: string;
  statuses: PostedStatus[];
  prs: FakePr[];
  requests: { method: string; path: string; status: number; auth: string | undefined }[];
  branchHead: () => Promise<string>;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  let s = "";
  for await (const c of req) s += c;
  return s;
}

export async function startFakeGitHub(opts: { repo: string; branchHead: () => Promise<string> }): Promise<FakeGitHub> {
  const fake: Omit<FakeGitHub, "url" | "close"> = { statuses: [], prs: [], requests: [], branchHead: opts.branchHead };
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? "").split("?")[0]!;
    const send = (status: number, data: unknown) => {
      const text = JSON.stringify(data);
      const etag = `"${createHash("sha1").update(text).digest("hex")}"`;
      if (req.method === "GET" && status === 200 && req.headers["if-none-match"] === etag) {
        res.writeHead(304, { etag });
        res.end();
        fake.requests.push({ method: req.method!, path, status: 304, auth: req.headers.authorization });
        return;
      }
      res.writeHead(status, { "content-type": "application/json", ...(req.method === "GET" ? { etag } : {}) });
      res.end(text);
      fake.requests.push({ method: req.method!, path, status, auth: req.headers.authorization });
    };
    const base = `/repos/${opts.repo}`;
    let m: RegExpExecArray | null;
    if (req.method === "POST" && (m = new RegExp(`^${base}/statuses/([0-9a-f]{40})$`).exec(path))) {
      const b = JSON.parse(await body(req)) as PostedStatus;
      fake.statuses.push({ ...b, sha: m[1]! });
      return send(201, { id: fake.statuses.length, state: b.state });
    }
    if (req.method === "GET" && (m = new RegExp(`^${base}/commits/([0-9a-f]{40})/pulls$`).exec(path))) {
      const prs = fake.prs.filter((p) => p.commits.includes(m![1]!));
      return send(200, prs.map((p) => ({ number: p.number, title: p.title, user: { login: p.author }, merged_at: "2026-01-01T00:00:00Z", html_url: `https://github.com/${opts.repo}/pull/${p.number}` })));
    }
    if (req.method === "GET" && (m = new RegExp(`^${base}/pulls/(\\d+)$`).exec(path))) {
      const p = fake.prs.find((x) => x.number === Number(m![1]));
      if (!p) return send(404, { message: "Not Found" });
      return send(200, { number: p.number, title: p.title, user: { login: p.author }, merged_by: { login: p.mergedBy } });
    }
    if (req.method === "GET" && (m = new RegExp(`^${base}/branches/([^/]+)$`).exec(path))) {
      return send(200, { name: m[1], commit: { sha: await fake.branchHead() } });
    }
    send(404, { message: `fake GitHub: no route for ${req.method} ${path}` });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return Object.assign(fake, { url, close: () => new Promise<void>((r) => server.close(() => r())) });
}
