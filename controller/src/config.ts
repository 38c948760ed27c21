/**
 * Controller configuration: parse controller.yaml against the schema, fill in
 * defaults, resolve secret references (inline, file, env). Every schema
 * problem is reported with its path.
 */
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import { ed25519FromOpenSsh } from "../../common/src/signing.js";
import { resolve, dirname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { ControllerConfig } from "../../schemas/src/controller-config.js";
import { parseDuration } from "../../schemas/src/duration.js";
import { ConfigError, formatPath } from "./errors.js";
import { locateConfigIssues } from "../../common/src/fleet/config-issues.js";
import type { OperatorRole } from "./http/auth.js";
import type { NotifyOptions } from "./notify/types.js";

type SecretRef = { value: string } | { file: string } | { env: string };

export interface ResolvedConfig {
  listenHost: string;
  listenPort: number;
  publicUrl: string | null;
  dataDir: string;
  database: string;
  remotes: string[];
  branch: string;
  pollIntervalMs: number;
  github: { repo: string; token: string | null; apiUrl: string; webhookSecret: string | null; statusContext: string } | null;
  operatorTokens: { name: string; token: string; role?: OperatorRole }[];
  allowAnonymousRead: boolean;
  maxBodyBytes: number;
  clockSkewMs: number;
  /** Deadline for receiving a whole request (node's http requestTimeout). */
  requestTimeoutMs: number;
  /** Connections served normally; see http/connections.ts. */
  maxConnections: number;
  /** Notification targets with their secrets resolved (notify/). Null: notifications off. */
  notify: NotifyOptions | null;
  /** Controller as builder (absent: the controller never builds). */
  builder: BuilderConfig | null;
  /** Output tails kept per host (limits.logTailsPerHost); default DEFAULT_LOG_TAILS_PER_HOST. */
  logTailsPerHost?: number;
  logLevel: "debug" | "info" | "warn" | "error";
  /** Unset: FLOTILLA_LOG_FORMAT, else "text". */
  logFormat?: "text" | "json";
}

export interface BuilderConfig {
  caches: string[];
  /** Absolute paths. */
  signingKeyFile: string;
  builderKeyFile: string;
  name: string;
  remote: string;
  timeoutMs: number;
}

async function resolveSecret(ref: SecretRef | undefined, where: string, baseDir: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  if (!ref) return null;
  if ("value" in ref) return ref.value;
  if ("env" in ref) {
    const v = env[ref.env];
    if (!v) throw new ConfigError(`${where}: environment variable ${ref.env} is not set`);
    return v;
  }
  try {
    return (await readFile(resolve(baseDir, ref.file), "utf8")).trim();
  } catch (cause) {
    throw new ConfigError(`${where}: cannot read ${ref.file}: ${(cause as NodeJS.ErrnoException).code ?? cause}`, { cause });
  }
}

export async function resolveConfig(raw: unknown, opts: { baseDir: string; env?: NodeJS.ProcessEnv; label?: string; text?: string }): Promise<ResolvedConfig> {
  const env = opts.env ?? process.env;
  const parsed = ControllerConfig.safeParse(raw);
  if (!parsed.success) {
    // With the file's text: `file:line:col  path  message`, "did you mean" for unknown keys.
    const lines =
      opts.text !== undefined && opts.label
        ? locateConfigIssues({ text: opts.text, file: opts.label, schema: ControllerConfig, data: raw, issues: parsed.error.issues }).map((l) => `  ${l}`)
        : parsed.error.issues.map((i) => `  ${formatPath(i.path) || "(root)"}: ${i.message}`);
    throw new ConfigError(`${opts.label ?? "controller config"} is invalid:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  // 0 would switch node's deadline off: a client could then hold a request open for ever.
  if (c.limits?.requestTimeout !== undefined && parseDuration(c.limits.requestTimeout) < 1000) {
    throw new ConfigError(`${opts.label ?? "controller config"} is invalid:\n  limits.requestTimeout: expected at least "1s", got "${c.limits.requestTimeout}"`);
  }
  const [host, port] = (() => {
    const l = c.listen ?? "127.0.0.1:8480";
    const i = l.lastIndexOf(":");
    return [l.slice(0, i).replace(/^\[|\]$/g, ""), Number(l.slice(i + 1))] as const;
  })();
  const dataDir = resolve(opts.baseDir, c.dataDir ?? "/var/lib/flotilla-controller");
  const gh = c.github;
  if (c.builder) {
    // Read both keys now: a controller that cannot sign should not start and fail every build later.
    const where = opts.label ?? "controller config";
    for (const [field, file] of [["builder.signingKey", c.builder.signingKey], ["builder.builderKey", c.builder.builderKey]] as const) {
      let text: Buffer;
      try {
        text = await readFile(resolve(opts.baseDir, file));
      } catch (cause) {
        throw new ConfigError(`${where}: ${field}: cannot read ${file}: ${(cause as NodeJS.ErrnoException).code ?? cause}`, { cause });
      }
      if (field === "builder.builderKey") {
        try {
          ed25519FromOpenSsh(text, file);
        } catch (cause) {
          throw new ConfigError(`${where}: ${field}: ${(cause as Error).message}`, { cause });
        }
      } else if (!/^[^:\s]+:[A-Za-z0-9+/=]+\s*$/.test(text.toString("utf8"))) {
        throw new ConfigError(`${where}: ${field}: ${file} is not a Nix secret key (expected "name:base64", from nix key generate-secret)`);
      }
    }
  }
  return {
    listenHost: host,
    listenPort: port,
    publicUrl: c.publicUrl ?? null,
    dataDir,
    database: c.database ?? `sqlite:${join(dataDir, "flotilla.db")}`,
    remotes: c.fleet.remotes,
    branch: c.fleet.branch ?? "main",
    pollIntervalMs: parseDuration(c.fleet.pollInterval ?? "30s"),
    github: gh
      ? {
          repo: gh.repo,
          token: (await resolveSecret(gh.token, "github.token", opts.baseDir, env)) ?? env.GITHUB_TOKEN ?? null,
          apiUrl: (gh.apiUrl ?? "https://api.github.com").replace(/\/+$/, ""),
          webhookSecret: await resolveSecret(gh.webhookSecret, "github.webhookSecret", opts.baseDir, env),
          statusContext: gh.statusContext ?? "flotilla/rollout",
        }
      : null,
    operatorTokens: await Promise.all(
      (c.auth?.operatorTokens ?? []).map(async (t, i) => ({ name: t.name, role: t.role ?? "operate", token: (await resolveSecret(t.token, `auth.operatorTokens[${i}].token`, opts.baseDir, env))! })),
    ),
    allowAnonymousRead: c.auth?.allowAnonymousRead ?? false,
    maxBodyBytes: c.limits?.maxBodyBytes ?? 1024 * 1024,
    clockSkewMs: parseDuration(c.limits?.clockSkew ?? "5m"),
    requestTimeoutMs: parseDuration(c.limits?.requestTimeout ?? "30s"),
    maxConnections: c.limits?.maxConnections ?? 4096,
    notify: c.notify
      ? {
          maxAttempts: c.notify.maxAttempts ?? 10,
          maxBackoffMs: parseDuration(c.notify.maxBackoff ?? "5m"),
          queueSize: c.notify.queueSize ?? 1000,
          targets: await Promise.all(
            c.notify.targets.map(async (t, i) => {
              const where = `notify.targets[${i}]`;
              const url = typeof t.url === "string" ? t.url : (await resolveSecret(t.url, `${where}.url`, opts.baseDir, env))!;
              // A URL from a secret is checked here; its text never goes into the message (it may carry a token).
              if (!/^https?:\/\/[^\s]+$/.test(url) || !URL.canParse(url)) throw new ConfigError(`${where}.url: the secret does not hold an http(s) URL`);
              if (duplicateName(c.notify!.targets, i)) throw new ConfigError(`${where}.name: "${t.name}" is used by another target; names must be unique`);
              return {
                name: t.name,
                url,
                format: t.format ?? "webhook",
                secret: await resolveSecret(t.secret, `${where}.secret`, opts.baseDir, env),
                events: t.events ? [...t.events] : null,
                timeoutMs: parseDuration(t.timeout ?? "10s"),
              };
            }),
          ),
        }
      : null,
    builder: c.builder
      ? {
          caches: c.builder.caches,
          signingKeyFile: resolve(opts.baseDir, c.builder.signingKey),
          builderKeyFile: resolve(opts.baseDir, c.builder.builderKey),
          name: c.builder.name ?? `controller@${hostname()}`,
          remote: c.builder.remote ?? c.fleet.remotes[0]!,
          timeoutMs: parseDuration(c.builder.timeout ?? "2h"),
        }
      : null,
    ...(c.limits?.logTailsPerHost !== undefined ? { logTailsPerHost: c.limits.logTailsPerHost } : {}),
    logLevel: c.logLevel ?? "info",
    logFormat: c.logFormat,
  };
}

function duplicateName(targets: readonly { name: string }[], i: number): boolean {
  return targets.findIndex((t) => t.name === targets[i]!.name) !== i;
}

export async function loadConfigFile(path: string, env?: NodeJS.ProcessEnv): Promise<ResolvedConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    throw new ConfigError(`cannot read ${path}: ${(cause as NodeJS.ErrnoException).code ?? cause}`, { cause });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    throw new ConfigError(`${path} is not valid YAML: ${(cause as Error).message}`, { cause });
  }
  return resolveConfig(raw, { baseDir: dirname(resolve(path)), env, label: path, text });
}
