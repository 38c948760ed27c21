/**
 * The agent's one HTTP client: `node:http` / `node:https` with a keep-alive
 * agent, a whole-exchange timeout, an AbortSignal, a JSON body, and an answer
 * of status + text. It replaces the global `fetch` in the daemon because the
 * first `fetch` loads undici and compiles its WebAssembly HTTP parser, about
 * 16 MB of resident memory for the life of the process (bench/RESULTS.md);
 * node:http uses the native parser that is already loaded.
 *
 * Like `fetch`, it rejects on anything that is not an HTTP answer (refused,
 * reset, DNS, TLS, timeout, abort, a body cut short) and resolves with any
 * status, redirects included (never followed). Error messages name the method,
 * origin and path only: never user info or the query string.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import { timerDelay } from "../../../schemas/src/duration.js";

export interface HttpRequestOptions {
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  /** Sent as `application/json` (unless headers say otherwise). */
  json?: unknown;
  /** Whole exchange, from the request to the last byte of the answer. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Do not read the answer: resolve on its status line with text "" (health checks without a body match). */
  discardBody?: boolean;
  /** Refuse answers larger than this. Default 16 MiB. */
  maxBytes?: number;
}

export interface HttpAnswer {
  status: number;
  /** 2xx */
  ok: boolean;
  text: string;
  /** The server's `Date` header, when it sent one (its clock, to the second). */
  date?: string;
}

export class HttpClientError extends Error {
  override name = "HttpClientError";
  constructor(
    message: string,
    /** The errno code (ECONNREFUSED…), "TIMEOUT", "ABORTED" or "TOO_LARGE". */
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const MAX_BYTES = 16 * 1024 * 1024;

// Idle keep-alive sockets are closed after 4 s, before a server's usual 5 s
// keep-alive timeout can close them under a new request.
const FREE_SOCKET_MS = 4_000;
const httpAgent = new HttpAgent({ keepAlive: true, timeout: FREE_SOCKET_MS });
let httpsAgent: HttpsAgent | null = null;

/** The request module and agent for `url`; node:https (and TLS) only loaded for https URLs. */
async function transport(url: URL): Promise<{ request: typeof httpRequest; agent: HttpAgent }> {
  if (url.protocol === "http:") return { request: httpRequest, agent: httpAgent };
  if (url.protocol === "https:") {
    const https = await import("node:https");
    httpsAgent ??= new https.Agent({ keepAlive: true, timeout: FREE_SOCKET_MS });
    return { request: https.request as unknown as typeof httpRequest, agent: httpsAgent };
  }
  throw new HttpClientError(`unsupported URL scheme ${url.protocol}`, "EPROTO");
}

export async function httpCall(target: string, o: HttpRequestOptions = {}): Promise<HttpAnswer> {
  const url = new URL(target);
  const method = o.method ?? (o.json === undefined ? "GET" : "POST");
  const where = `${method} ${url.origin}${url.pathname}`;
  const { request, agent } = await transport(url);
  const body = o.json === undefined ? null : Buffer.from(JSON.stringify(o.json), "utf8");
  const headers: Record<string, string> = { accept: "*/*", ...(body ? { "content-type": "application/json", "content-length": String(body.length) } : {}), ...o.headers };
  const once = () => attempt(url, where, method, headers, body, request, agent, o);
  try {
    return await once();
  } catch (e) {
    // A kept-alive socket the server closed just as we reused it: nothing reached the server, so one retry is safe.
    if (e instanceof StaleSocket) return once();
    throw e;
  }
}

function dateOf(res: IncomingMessage): { date?: string } {
  const d = res.headers.date;
  return d ? { date: d } : {};
}

/** A reset on a reused keep-alive socket before any answer: the request never reached the server. */
class StaleSocket extends Error {}

function attempt(
  url: URL,
  where: string,
  method: string,
  headers: Record<string, string>,
  body: Buffer | null,
  request: typeof httpRequest,
  agent: HttpAgent,
  o: HttpRequestOptions,
): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    let settled = false;
    let req: ClientRequest | null = null;
    let answered = false;
    let timer: NodeJS.Timeout | null = null;
    const finish = (err: Error | null, answer?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      if (err) {
        req?.destroy();
        reject(err);
      } else resolve(answer!);
    };
    const onAbort = () => finish(new HttpClientError(`${where}: aborted`, "ABORTED", { cause: o.signal?.reason }));
    if (o.signal?.aborted) return onAbort();
    o.signal?.addEventListener("abort", onAbort, { once: true });
    if (o.timeoutMs !== undefined) timer = setTimeout(() => finish(new HttpClientError(`${where}: no answer within ${o.timeoutMs} ms`, "TIMEOUT")), timerDelay(o.timeoutMs));

    req = request(url, { method, headers, agent });
    req.on("error", (e: NodeJS.ErrnoException) => {
      const code = e.code ?? "ERROR";
      if (!answered && req?.reusedSocket && code === "ECONNRESET") return finish(new StaleSocket());
      finish(new HttpClientError(`${where}: ${code === "ERROR" ? e.message : code}`, code, { cause: e }));
    });
    req.on("response", (res: IncomingMessage) => {
      answered = true;
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      if (o.discardBody) {
        res.destroy();
        return finish(null, { status, ok, text: "", ...dateOf(res) });
      }
      const max = o.maxBytes ?? MAX_BYTES;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > max) return finish(new HttpClientError(`${where}: answer larger than ${max} bytes`, "TOO_LARGE"));
        chunks.push(c);
      });
      res.on("end", () => finish(null, { status, ok, text: Buffer.concat(chunks).toString("utf8"), ...dateOf(res) }));
      res.on("aborted", () => finish(new HttpClientError(`${where}: answer cut short`, "ECONNRESET")));
      res.on("error", (e: NodeJS.ErrnoException) => finish(new HttpClientError(`${where}: answer cut short: ${e.code ?? e.message}`, e.code ?? "ECONNRESET", { cause: e })));
    });
    req.end(body ?? undefined);
  });
}
