/**
 * Wiring only: builds the store, follower, GitHub client, coordinator,
 * metrics and HTTP server from a resolved config, and tears them down.
 */
import { serve, type ServerType } from "@hono/node-server";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Logger } from "../../common/src/log.js";
import type { ResolvedConfig } from "./config.js";
import { Coordinator } from "./coordinator.js";
import type { ControllerBuilder } from "./build/controller-builder.js";
import { Follower } from "./follower/follower.js";
import { GitHubClient } from "./github/client.js";
import { createApp } from "./http/app.js";
import { OperatorAuth } from "./http/auth.js";
import { ConnectionLimiter, openFilesLimit } from "./http/connections.js";
import { VerifierPool } from "./ingest/verifier-pool.js";
import { Metrics } from "./metrics.js";
import { registerNotifyMetrics } from "./notify/metrics.js";
import { Notifier } from "./notify/notifier.js";
import { NotifySources } from "./notify/sources.js";
import { openStore } from "./store/open.js";
import type { Store } from "./store/types.js";
import type { OperatorAction } from "../../schemas/src/api.js";

export interface RunningController {
  url: string;
  /** The controller's builder (controller.yaml `builder`), or null. */
  builder: ControllerBuilder | null;
  port: number;
  store: Store;
  follower: Follower;
  coordinator: Coordinator;
  github: GitHubClient | null;
  /** Notification sources (null without `notify:`); `notify.operatorAction(a)` is the operator-action hook. */
  notify: NotifySources | null;
  notifier: Notifier | null;
  app: ReturnType<typeof createApp>;
  connections: ConnectionLimiter;
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  now?: () => number;
  /** Rollout re-evaluation period (soak expiry, statuses). Default 1s. */
  tickMs?: number;
  controllerId?: string;
  maxReportAgeMs?: number;
  /** Called once for every operator action this controller records (wire the notifier here); must not throw. */
  onOperatorAction?: (action: OperatorAction) => void;
  /** First notification retry delay (default 1 s); tests shorten it. */
  notifyMinBackoffMs?: number;
  /** Environment of the builder's nix (default: the process's). */
  builderEnv?: Record<string, string | undefined>;
}

export async function startController(config: ResolvedConfig, o: StartOptions): Promise<RunningController> {
  const log = o.log;
  const store = await openStore(config.database, { logTailsPerHost: config.logTailsPerHost });
  const github = config.github ? new GitHubClient({ ...config.github, log: log.child("github") }) : null;
  const prQueue: string[] = [];
  let prBusy = false;
  let stopping = false;
  const drainPrs = async () => {
    if (prBusy || !github) return;
    prBusy = true;
    try {
      for (let sha = prQueue.shift(); sha && !stopping; sha = prQueue.shift()) {
        const pr = await github.pullRequestFor(sha).catch((e) => (log.warn("PR lookup failed", { sha: sha!.slice(0, 12), error: (e as Error).message }), null));
        if (pr) await store.setCommitPr(sha, pr);
      }
    } finally {
      prBusy = false;
    }
  };
  const follower = new Follower({
    mirrorDir: join(config.dataDir, "fleet.git"),
    remotes: config.remotes,
    branch: config.branch,
    pollIntervalMs: config.pollIntervalMs,
    store,
    log: log.child("follower"),
    ...(o.now ? { now: o.now } : {}),
    onCommit: (sha) => {
      if (!github) return;
      prQueue.push(sha);
      // Never an unhandled rejection (which would end the process): a failed store write is logged.
      drainPrs().catch((e) => log.warn("PR record failed", { sha: sha.slice(0, 12), error: (e as Error).message }));
    },
    ...(github ? { headHint: () => github.branchHead(config.branch) } : {}),
  });
  // Controller as builder: one build at a time, the newest head first (build/controller-builder.ts).
  // Imported only when configured: the builder pulls in execa's module graph,
  // whose parallel loading alone needs more file descriptors than a small limit allows.
  let coordinatorRef: Coordinator | null = null;
  const builder = config.builder
    ? new (await import("./build/controller-builder.js")).ControllerBuilder({
        gitDir: join(config.dataDir, "fleet.git"),
        ...config.builder,
        fleetAt: (rev) => follower.fleetAt(rev),
        isBuilt: async (rev) => (await follower.releaseAt(rev)).state === "built",
        onPublished: () => void follower.poke("release published").catch(() => undefined),
        // The coordinator is made below; a build's state changes only once builds run (after start).
        onChange: (s) => coordinatorRef?.buildChanged(s.rev),
        log: log.child("builder"),
        ...(o.builderEnv ? { env: o.builderEnv } : {}),
        ...(o.now ? { now: o.now } : {}),
      })
    : null;
  const verifier = new VerifierPool();
  const controllerId = o.controllerId ?? `controller-${process.pid}-${randomBytes(3).toString("hex")}`;
  const notifier = config.notify
    ? new Notifier({ options: { ...config.notify, ...(o.notifyMinBackoffMs ? { minBackoffMs: o.notifyMinBackoffMs } : {}) }, log: log.child("notify"), outbox: { store, owner: controllerId }, ...(o.now ? { now: o.now } : {}) })
    : null;
  const notify = notifier ? new NotifySources({ notifier, store, log: log.child("notify"), publicUrl: config.publicUrl }) : null;
  const coordinator = new Coordinator({
    builds: builder,
    verifier,
    store, fleet: follower, log: log.child("rollout"), branch: config.branch, github, notify, publicUrl: config.publicUrl, clockSkewMs: config.clockSkewMs,
    ...(o.now ? { now: o.now } : {}), controllerId, ...(o.maxReportAgeMs ? { maxReportAgeMs: o.maxReportAgeMs } : {}),
    // Every recorded operator action is notified (notify/), and handed to the caller's hook.
    onOperatorAction: (a: OperatorAction) => {
      notify?.operatorAction(a);
      o.onOperatorAction?.(a);
    },
  });
  coordinatorRef = coordinator;
  let connections: ConnectionLimiter | null = null;
  const metrics = new Metrics(() => coordinator.status(), () => coordinator.hub.size, () => connections?.open() ?? 0);
  if (notifier) registerNotifyMetrics(metrics.registry, notifier);
  coordinator.onIngest = (accepted, duplicates, lags) => {
    metrics.reports.inc({ result: "accepted" }, accepted);
    if (duplicates) metrics.reports.inc({ result: "duplicate" }, duplicates);
    for (const l of lags) metrics.lag.observe(Math.max(0, l) / 1000);
  };
  // Refusals are counted where they are rendered, in the app's error handler
  // (every HttpError once, 413 and query errors included), and at the connection cap.
  connections = new ConnectionLimiter(config.maxConnections, () => metrics.rejected.inc({ code: "TooManyConnections" }));
  const limiter = connections;
  // Resume what a previous run left undelivered, before new events queue behind it.
  await notifier?.start();
  await follower.start();
  if (builder) {
    follower.onHeadChange((head) => builder.request(head));
    const head = follower.head();
    if (head) builder.request(head);
  }

  const app = createApp({
    coordinator, fleet: follower, auth: new OperatorAuth(config.operatorTokens, config.allowAnonymousRead), metrics, log: log.child("http"),
    maxBodyBytes: config.maxBodyBytes, webhookSecret: config.github?.webhookSecret ?? null, branch: config.branch,
    overCapacity: (env) => limiter.isOverCapacity((env as { incoming?: { socket?: unknown } } | undefined)?.incoming?.socket),
  });
  // requestTimeout bounds the receipt of a request (headers + body), not the
  // answer: a long-poll watch is a complete GET waiting for its response and is
  // not cut. Node checks the deadlines every connectionsCheckingInterval.
  const serverOptions = {
    requestTimeout: config.requestTimeoutMs,
    headersTimeout: Math.min(60_000, config.requestTimeoutMs),
    connectionsCheckingInterval: Math.min(1_000, config.requestTimeoutMs),
  };
  // A listen failure (port in use, no permission) is one line for the operator,
  // and releases what was opened before it (the follower's timer, the store).
  const server: ServerType = await new Promise<ServerType>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.listenHost, port: config.listenPort, serverOptions }, () => {
      s.off("error", onError);
      resolve(s);
    });
    const onError = (e: NodeJS.ErrnoException) => reject(new ListenError(config.listenHost, config.listenPort, e));
    s.once("error", onError);
  }).catch(async (e: unknown) => {
    follower.stop();
    await builder?.stop();
    await coordinator.settle();
    await notify?.settle();
    await notifier?.stop(0);
    await store.close().catch(() => {});
    await verifier.close().catch(() => {});
    throw e;
  });
  const http = server as import("node:http").Server;
  http.keepAliveTimeout = 75_000;
  limiter.attach(http);
  warnOnLowFileLimit(limiter, log);
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.listenHost.includes(":") ? `[${config.listenHost}]` : config.listenHost}:${port}`;
  log.info("listening", { url, database: store.kind, branch: config.branch });

  let ticking = false;
  const timer = setInterval(() => {
    if (ticking) return;
    ticking = true;
    coordinator.tick().catch((e) => log.warn("rollout tick failed", { error: (e as Error).message })).finally(() => (ticking = false));
  }, o.tickMs ?? 1_000);
  timer.unref();

  return {
    url, port, store, follower, coordinator, github, notify, notifier, app, connections: limiter, builder,
    async stop() {
      clearInterval(timer);
      follower.stop();
      await builder?.stop();
      coordinator.hub.closeAll();
      await new Promise<void>((resolve) => {
        http.closeAllConnections?.();
        server.close(() => resolve());
      });
      stopping = true;
      while (ticking || prBusy) await new Promise((r) => setTimeout(r, 10));
      await coordinator.settle();
      // Undelivered notifications get a short grace, then are dropped, counted and logged (memory only).
      await notify?.settle();
      await notifier?.stop(2_000);
      await store.close();
      await verifier.close();
    },
  };
}

const LISTEN_REASONS: Record<string, string> = {
  EADDRINUSE: "address already in use",
  EACCES: "permission denied",
  EADDRNOTAVAIL: "address not available on this machine",
};

/** The controller could not bind its listen address: `cannot listen on HOST:PORT: address already in use`. */
export class ListenError extends Error {
  override name = "ListenError";
  /** The message says what the cause (EADDRINUSE…) meant; the CLI does not repeat it. */
  readonly explainsCause = true;
  constructor(host: string, port: number, cause: NodeJS.ErrnoException) {
    super(`cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}: ${LISTEN_REASONS[cause.code ?? ""] ?? cause.message}`, { cause });
  }
}

/** Descriptors beyond the connection cap: SQLite (3), git runs (3 pipes each), PostgreSQL pool, node itself. */
const FD_MARGIN = 256;

function warnOnLowFileLimit(limiter: ConnectionLimiter, log: Logger): void {
  let limit: number | null = null;
  try {
    limit = openFilesLimit(readFileSync("/proc/self/limits", "utf8"));
  } catch {
    return; // not Linux: nothing to check
  }
  const need = limiter.hardLimit + FD_MARGIN;
  if (limit !== null && limit < need) {
    log.warn("open-files limit below what limits.maxConnections needs: clients can exhaust descriptors git and the database need", {
      openFilesLimit: limit, maxConnections: limiter.max, needed: need, fix: `raise LimitNOFILE / ulimit -n to ≥ ${need} or lower limits.maxConnections to ≤ ${Math.max(1, limit - FD_MARGIN - limiter.hardLimit + limiter.max)}`,
    });
  }
}
