/** Worker thread of the verifier pool: checks ed25519 envelope signatures. */
import { parentPort } from "node:worker_threads";
import { verifyEnvelope } from "../../../common/src/signing.js";
import type { SignedEnvelope } from "../../../schemas/src/api.js";

parentPort!.on("message", (job: { id: number; key: string; envelopes: SignedEnvelope[] }) => {
  parentPort!.postMessage({ id: job.id, ok: job.envelopes.map((e) => verifyEnvelope(e, job.key)) });
});
