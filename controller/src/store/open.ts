/** Opens the configured store: "sqlite:<path>" (default <dataDir>/flotilla.db) or "postgres://…". */
import { join } from "node:path";
import { PostgresStore } from "./postgres.js";
import { SqliteStore } from "./sqlite.js";
import type { Store, StoreOptions } from "./types.js";

export function databaseUrl(database: string | undefined, dataDir: string): string {
  return database ?? `sqlite:${join(dataDir, "flotilla.db")}`;
}

export async function openStore(url: string, opts: StoreOptions = {}): Promise<Store> {
  const store: Store = /^postgres(ql)?:\/\//.test(url) ? new PostgresStore(url, opts) : new SqliteStore(url.replace(/^sqlite:/, ""), opts);
  await store.migrate();
  return store;
}
