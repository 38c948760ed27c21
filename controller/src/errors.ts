/**
 * The controller's error classes. HttpError is the only one the HTTP layer
 * renders: status, a PascalCase code, a message saying what was wrong, and
 * `path` saying where in the request body.
 */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 409 | 413 | 415 | 422 | 429 | 500 | 503,
    readonly code: string,
    message: string,
    readonly path?: string,
    options?: { cause?: unknown; lastSeq?: number },
  ) {
    super(message, options);
    this.lastSeq = options?.lastSeq;
  }

  /** With code SeqBehind: the highest seq stored for the host (see ApiError.lastSeq). */
  readonly lastSeq: number | undefined;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

export class FollowerError extends Error {
  override name = "FollowerError";
}

export class GitHubError extends Error {
  override name = "GitHubError";
}

/** zod issue path → "reports[0].payload.seq". */
export function formatPath(parts: readonly PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const p of parts) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}
