/**
 * The Watch port over HTTP: `GET {controller}/api/v1/watch?host=H&since=<sha>&timeoutMs=N`,
 * answered by a Nudge. The request is signed like a gate question: a WatchQuery
 * {host, since, time} signed with the host key, sent as `Authorization: Flotilla
 * <base64url envelope>`, so the controller tells the head and the host's wave
 * only to the host itself. A nudge only says "poll now": everything the agent then
 * does is checked against git and the signed gate.
 */
import { API_PREFIX } from "../../../schemas/src/api-constants.js";
import type { Nudge, WatchQuery } from "../../../schemas/src/api.js";
import { check } from "../../../schemas/src/agent-check.js";
import { envelopeAuthorization, type HostSigner } from "../../../common/src/signing.js";
import type { Clock, Watch } from "../ports.js";
import { httpCall } from "./http-client.js";

/** How much longer than the asked long-poll the client waits for an answer before giving up. */
const GRACE_MS = 15_000;

export class WatchError extends Error {
  override name = "WatchError";
}

export class HttpWatch implements Watch {
  constructor(private readonly o: { signer: HostSigner; clock: Clock; controller: () => string | null }) {}

  async wait(since: string | null, timeoutMs: number, signal: AbortSignal): Promise<Nudge | null> {
    const base = this.o.controller();
    if (!base) return null;
    const host = this.o.signer.host;
    const query = new URLSearchParams({ host, since: since ?? "", timeoutMs: String(timeoutMs) });
    const url = `${base}${API_PREFIX}/watch?${query}`;
    const signed: WatchQuery = { type: "watch", host, since, time: this.o.clock.now().toISOString() };
    const authorization = envelopeAuthorization(this.o.signer.sign(JSON.stringify(signed)));
    // The client detaches its listener from the daemon's lifelong signal when the call ends.
    const res = await httpCall(url, { signal, timeoutMs: timeoutMs + GRACE_MS, headers: { authorization } });
    const text = res.text;
    if (!res.ok) throw new WatchError(`GET ${API_PREFIX}/watch: HTTP ${res.status}: ${text.slice(0, 300)}`);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new WatchError(`GET ${API_PREFIX}/watch: the answer is not JSON: ${text.slice(0, 300)}`);
    }
    const nudge = await check<Nudge>("nudge", body);
    if (!nudge.success) throw new WatchError(`GET ${API_PREFIX}/watch: the answer is not a Nudge: ${text.slice(0, 300)}`);
    return nudge.data;
  }
}
