/** Shared by `flotilla status`, `audit`, `rollout` and `host`: reaching the controller's API. */
import type { z } from "zod";
import { visible } from "../report/visible.js";

export interface RemoteOptions {
  controller?: string;
  token?: string;
}

export function controllerUrl(o: RemoteOptions, env: NodeJS.ProcessEnv = process.env): string {
  return (o.controller ?? env.FLOTILLA_CONTROLLER ?? "http://127.0.0.1:8480").replace(/\/+$/, "");
}

export class RemoteError extends Error {
  override name = "RemoteError";
}

/** GETs a read API path and validates the reply against its schema. */
export function fetchReport<T>(o: RemoteOptions, path: string, schema: z.ZodType<T>, env: NodeJS.ProcessEnv = process.env, signal?: AbortSignal): Promise<T> {
  return request(o, "GET", path, undefined, schema, env, signal);
}

/** POSTs a JSON body (operator actions) and validates the reply against its schema. */
export function postJson<T>(o: RemoteOptions, path: string, body: unknown, schema: z.ZodType<T>, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  return request(o, "POST", path, body, schema, env);
}

async function request<T>(o: RemoteOptions, method: "GET" | "POST", path: string, body: unknown, schema: z.ZodType<T>, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<T> {
  const base = controllerUrl(o, env);
  const token = o.token ?? env.FLOTILLA_TOKEN;
  let res: Response;
  try {
    res = await fetch(base + path, {
      method,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(30_000)]) : AbortSignal.timeout(30_000),
    });
  } catch (cause) {
    throw new RemoteError(`cannot reach the controller at ${base}: ${(cause as Error).cause ?? (cause as Error).message}`, { cause });
  }
  const text = await res.text();
  if (!res.ok) {
    let detail = text.slice(0, 500);
    try {
      const j = JSON.parse(text) as { error?: string; message?: string };
      detail = `${j.error}: ${j.message}`;
    } catch {
      // keep the raw text
    }
    const from = o.token !== undefined ? "--token" : "FLOTILLA_TOKEN";
    const hint = res.status !== 401 ? "" : token ? ` (the token from ${from} was rejected; check it against the controller's operatorTokens)` : " (no token sent: pass --token or set FLOTILLA_TOKEN)";
    throw new RemoteError(`controller ${base} answered HTTP ${res.status} for ${path}: ${visible(detail)}${hint}`);
  }
  const parsed = schema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new RemoteError(`controller ${base} sent an invalid reply for ${path}: ${parsed.error.issues[0]?.path.join(".")}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}
