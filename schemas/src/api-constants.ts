/**
 * Constants of the agent ↔ controller protocol (api.ts has the message
 * schemas and re-exports these). No zod here, so the agent can use them
 * without loading it.
 */

/** Prefix of every signed payload: a signature is valid for Flotilla messages only. */
export const SIGNATURE_DOMAIN = "flotilla-v1\n";
export const API_PREFIX = "/api/v1";
/** The Authorization scheme of the signed watch: `Flotilla <base64url(JSON of the envelope)>`. */
export const WATCH_AUTH_SCHEME = "Flotilla";

/**
 * Error codes for which the controller will never accept the report named by
 * `path` (reports[i]…), whatever the agent retries: the agent sets that report
 * aside (kept on disk, logged) so the rest of its queue is delivered.
 */
export const PERMANENT_REPORT_ERRORS: ReadonlySet<string> = new Set(["Replay", "SchemaViolation", "InvalidPayload", "HostMismatch"]);

/**
 * Error codes that refuse every message of the host, whatever it sends, until
 * an operator or the controller's next fetch of the fleet repo changes
 * something (the host or its key is not in the fleet file the controller
 * knows, the controller has no fleet yet, it is overloaded). The agent keeps
 * its queue and tries again later; splitting or setting aside would not help.
 */
export const HOST_WIDE_REPORT_ERRORS: ReadonlySet<string> = new Set(["UnknownHost", "BadSignature", "FleetUnavailable", "RateLimited"]);

/** Most UTF-8 bytes of one step's output tail (the agent keeps the last lines; the controller refuses more). */
export const LOG_TAIL_MAX_BYTES = 8192;
