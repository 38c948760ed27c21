/**
 * Asks the controller whether a gated wave may take a revision: a signed
 * GateQuery to `POST /api/v1/gate`, answered by a GateAnswer. Anything else
 * (no controller configured, unreachable, an invalid or mismatched answer)
 * is "no answer", and target resolution then waits: the safe default.
 */
import { randomBytes } from "node:crypto";
import { API_PREFIX } from "../../../schemas/src/api-constants.js";
import type { GateAnswer, GateQuery } from "../../../schemas/src/api.js";
import { check } from "../../../schemas/src/agent-check.js";
import type { HostSigner } from "../../../common/src/signing.js";
import type { Logger } from "../../../common/src/log.js";
import type { Clock, Gate } from "../ports.js";
import { httpCall } from "./http-client.js";

export class HttpGate implements Gate {
  constructor(private readonly o: { signer: HostSigner; controller: () => string | null; clock: Clock; log: Logger; timeoutMs?: number }) {}

  async ask(rev: string): Promise<GateAnswer | null> {
    const url = this.o.controller();
    if (!url) {
      this.o.log.info("no controller configured; gated waves wait");
      return null;
    }
    const query: GateQuery = { type: "gate", host: this.o.signer.host, rev, time: this.o.clock.now().toISOString(), nonce: randomBytes(12).toString("hex") };
    try {
      const res = await httpCall(`${url}${API_PREFIX}/gate`, { method: "POST", json: this.o.signer.sign(JSON.stringify(query)), timeoutMs: this.o.timeoutMs ?? 10_000 });
      const text = res.text;
      if (!res.ok) {
        this.o.log.warn("gate query refused", { status: res.status, body: text.slice(0, 300) });
        return null;
      }
      const answer = await check<GateAnswer>("gate-answer", JSON.parse(text));
      if (!answer.success || answer.data.host !== query.host || answer.data.rev !== rev) {
        this.o.log.warn("invalid gate answer; waiting", { body: text.slice(0, 300) });
        return null;
      }
      this.o.log.info("gate answer", { rev, decision: answer.data.decision, wave: answer.data.wave });
      return answer.data;
    } catch (e) {
      this.o.log.warn("controller unreachable for the gate; waiting", { error: (e as Error).message });
      return null;
    }
  }
}
