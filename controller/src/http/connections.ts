/**
 * The open-connection cap (limits.maxConnections) and its /healthz headroom.
 *
 * Every accepted connection is counted. One accepted while `max` or more are
 * open is marked over capacity for its lifetime: the app answers its requests
 * 503 TooManyConnections with `Connection: close` (closing it at once), except
 * GET /healthz, which it serves normally, so a load balancer or systemd probe
 * still sees a live controller while clients are refused. Node itself closes,
 * without a byte, any connection beyond `max + HEALTHZ_HEADROOM` (its
 * server.maxConnections), so the descriptors the controller needs for git,
 * the database and its own files stay free whatever clients do.
 *
 * Held connections do not stay for ever: unfinished requests are cut at
 * limits.requestTimeout (408), idle keep-alive ones at keepAliveTimeout.
 */
import type { Server } from "node:http";
import type { Socket } from "node:net";

/** Extra connections, beyond the cap, that may still ask /healthz. */
export const HEALTHZ_HEADROOM = 32;

export class ConnectionLimiter {
  private count = 0;
  private readonly over = new WeakSet<Socket>();

  constructor(
    readonly max: number,
    private readonly onDrop: () => void = () => undefined,
  ) {}

  /** Connections beyond this are closed by node at accept. */
  get hardLimit(): number {
    return this.max + HEALTHZ_HEADROOM;
  }

  open(): number {
    return this.count;
  }

  attach(server: Server): void {
    server.maxConnections = this.hardLimit;
    server.on("drop", () => this.onDrop());
    server.on("connection", (socket: Socket) => {
      if (this.count >= this.max) this.over.add(socket);
      this.count++;
      socket.once("close", () => this.count--);
    });
  }

  /** Whether requests on this socket are refused (all but /healthz). */
  isOverCapacity(socket: unknown): boolean {
    return typeof socket === "object" && socket !== null && this.over.has(socket as Socket);
  }
}

/** The soft open-files limit of this process ("Max open files" in /proc/self/limits), when known. */
export function openFilesLimit(limitsText: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limitsText);
  if (!m) return null;
  return m[1] === "unlimited" ? Infinity : Number(m[1]);
}
