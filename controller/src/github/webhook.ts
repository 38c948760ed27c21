/** GitHub webhook signatures: X-Hub-Signature-256 = "sha256=" + HMAC-SHA256(secret, raw body). */
import { createHmac, timingSafeEqual } from "node:crypto";

export function verifyWebhookSignature(secret: string, rawBody: string, header: string | undefined): boolean {
  if (!header || !/^sha256=[0-9a-f]{64}$/.test(header)) return false;
  const expected = Buffer.from("sha256=" + createHmac("sha256", secret).update(rawBody, "utf8").digest("hex"));
  const given = Buffer.from(header);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function signWebhookBody(secret: string, rawBody: string): string {
  return "sha256=" + createHmac("sha256", secret).update(rawBody, "utf8").digest("hex");
}
