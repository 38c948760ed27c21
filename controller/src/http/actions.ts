/**
 * Operator action routes: POST /api/v1/rollouts/{rev}/{pause,resume,abort,approve},
 * POST /api/v1/hosts/{host}/{retry,hold,release} and GET /api/v1/actions.
 * Acting needs an operator token with role `operate` (bearer, or the
 * dashboard's cookie); allowAnonymousRead never opens them. The actor
 * recorded is the token's name.
 */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { API_PREFIX, type ActionList } from "../../../schemas/src/api.js";
import { HOST_ACTIONS, ROLLOUT_ACTIONS, type HostActionKind, type RolloutActionKind } from "../actions/act.js";
import type { Coordinator } from "../coordinator.js";
import { HttpError } from "../errors.js";
import { bearer, type OperatorAuth, TOKEN_COOKIE } from "./auth.js";
import { intParam } from "./query.js";

const MAX_ACTIONS = 1_000;

/** The acting operator's name, or a 401/403. */
function actor(c: Context, auth: OperatorAuth): string {
  const presented = bearer(c.req.header("authorization")) ?? getCookie(c, TOKEN_COOKIE);
  const who = auth.identify(presented);
  if (!who) {
    throw new HttpError(401, "Unauthorized", presented ? "the operator token was rejected: it matches no operator token of this controller" : "an operator bearer token with role operate is required (Authorization: Bearer <token>)");
  }
  if (who.role !== "operate") throw new HttpError(403, "Forbidden", `operator token "${who.name}" has role read: operator actions need role operate`);
  return who.name;
}

async function optionalJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new HttpError(400, "InvalidJson", `body is not JSON: ${(cause as Error).message}`, undefined, { cause });
  }
}

export function registerActionRoutes(app: Hono, o: { coordinator: Coordinator; auth: OperatorAuth; limit: MiddlewareHandler; read: MiddlewareHandler }): void {
  for (const kind of ROLLOUT_ACTIONS) {
    app.post(`${API_PREFIX}/rollouts/:rev/${kind}`, o.limit, async (c) => {
      const who = actor(c, o.auth);
      return c.json(await o.coordinator.act(kind as RolloutActionKind, c.req.param("rev"), await optionalJson(c), who));
    });
  }
  for (const kind of HOST_ACTIONS) {
    app.post(`${API_PREFIX}/hosts/:host/${kind}`, o.limit, async (c) => {
      const who = actor(c, o.auth);
      return c.json(await o.coordinator.act(kind as HostActionKind, c.req.param("host"), await optionalJson(c), who));
    });
  }
  app.get(`${API_PREFIX}/actions`, o.read, async (c) => {
    const limit = intParam(c.req.query("limit"), "limit", 1, MAX_ACTIONS) ?? 100;
    const rev = c.req.query("rev");
    if (rev !== undefined && !/^[0-9a-f]{40}$/.test(rev)) throw new HttpError(400, "InvalidQuery", `rev: expected a 40-hex commit id, got ${JSON.stringify(rev.slice(0, 50))}`, "rev");
    const host = c.req.query("host");
    const actions = await o.coordinator.actions({ ...(host ? { host } : {}), ...(rev ? { rev } : {}), limit });
    return c.json({ actions } satisfies ActionList);
  });
}
