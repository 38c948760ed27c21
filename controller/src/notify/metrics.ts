/**
 * The notifier's Prometheus metrics, registered on the controller's registry:
 * deliveries, failed attempts and drops per target and kind (a drop is never
 * silent: it is logged and counted here by reason), and the queue lengths.
 */
import client from "prom-client";
import type { Notifier } from "./notifier.js";

export function registerNotifyMetrics(registry: client.Registry, notifier: Notifier): void {
  const delivered = new client.Counter({ name: "flotilla_notifications_delivered_total", help: "Notifications a target accepted (2xx), by target and kind.", labelNames: ["target", "kind"], registers: [registry] });
  const failed = new client.Counter({ name: "flotilla_notification_attempts_failed_total", help: "Delivery attempts that failed (connection error, timeout, non-2xx), by target and kind; retried with backoff.", labelNames: ["target", "kind"], registers: [registry] });
  const dropped = new client.Counter({
    name: "flotilla_notifications_dropped_total",
    help: "Notifications given up, by target, kind and reason: attempts (notify.maxAttempts used up), queue-full (notify.queueSize), shutdown (still queued when the controller stopped).",
    labelNames: ["target", "kind", "reason"],
    registers: [registry],
  });
  new client.Gauge({
    name: "flotilla_notifications_pending",
    help: "Notifications waiting or in delivery, by target.",
    labelNames: ["target"],
    registers: [registry],
    collect() {
      for (const [target, n] of Object.entries(notifier.pending())) this.set({ target }, n);
    },
  });
  notifier.hooks = {
    delivered: (target, kind) => delivered.inc({ target, kind }),
    failedAttempt: (target, kind) => failed.inc({ target, kind }),
    dropped: (target, kind, reason) => dropped.inc({ target, kind, reason }),
  };
}
