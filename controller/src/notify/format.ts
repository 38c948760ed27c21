/**
 * Request bodies and signatures, pure: the generic webhook body (the event
 * as JSON), the Slack-compatible body (`{"text": …}`, one readable line and
 * a link), and the HMAC-SHA256 signature header over the exact body bytes.
 */
import { createHmac } from "node:crypto";
import type { NotifyEvent, NotifyTargetOptions } from "./types.js";

export const SIGNATURE_HEADER = "x-flotilla-signature-256";
export const EVENT_HEADER = "x-flotilla-event";
export const DELIVERY_HEADER = "x-flotilla-delivery";

/** `sha256=<hex>`, as GitHub signs its webhooks: HMAC-SHA256 keyed with the secret over the body bytes. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

const TITLES: Record<NotifyEvent["kind"], string> = {
  "rollout-halted": "Rollout halted",
  "rollout-complete": "Rollout complete",
  "host-stalled": "Host stalled",
  "host-stale": "Host stale",
  "operator-action": "Operator action",
};

/** Slack's mrkdwn treats &, < and > specially; everything else is shown as is. */
function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function hostList(hosts: readonly string[]): string {
  return hosts.length <= 5 ? hosts.join(", ") : `${hosts.slice(0, 5).join(", ")} and ${hosts.length - 5} more`;
}

/** One readable message: "Rollout halted: 1a2b3c4d5e6f "bad commit" on canary-1 — <reason> <link>". */
export function slackText(e: NotifyEvent): string {
  const parts: string[] = [`*${TITLES[e.kind]}*`];
  if (e.kind === "operator-action" && e.action) parts.push(`${esc(e.action.actor)} ran *${esc(e.action.action)}*`);
  if (e.rev) parts.push(`\`${e.rev.slice(0, 12)}\`${e.subject ? ` "${esc(e.subject)}"` : ""}`);
  if (e.wave) parts.push(`wave ${esc(e.wave)}`);
  if (e.hosts.length) parts.push(`on ${esc(hostList(e.hosts))}`);
  let text = parts.join(" ");
  if (e.reason) text += ` — ${esc(e.reason)}`;
  if (e.url) text += ` <${e.url}|dashboard>`;
  return text;
}

export function requestBody(target: Pick<NotifyTargetOptions, "format">, e: NotifyEvent): string {
  return target.format === "slack" ? JSON.stringify({ text: slackText(e) }) : JSON.stringify(e);
}

export function requestHeaders(target: Pick<NotifyTargetOptions, "secret">, e: NotifyEvent, body: string): Record<string, string> {
  return {
    "content-type": "application/json",
    "user-agent": "flotilla-controller",
    [EVENT_HEADER]: e.kind,
    [DELIVERY_HEADER]: e.id,
    ...(target.secret ? { [SIGNATURE_HEADER]: signBody(target.secret, body) } : {}),
  };
}
