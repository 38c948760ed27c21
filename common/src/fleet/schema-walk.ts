/**
 * Looks up the zod schema that governs a path of a fleet file, so messages
 * can name the keys an object accepts ("did you mean hostKey?") and describe
 * a missing field. Follows the data to pick a discriminated union's branch.
 * Reads zod's definition objects (`_zod.def`); pure.
 */
import type { z } from "zod";
import type { DataPath } from "./yaml-locate.js";

type AnySchema = z.ZodType;
interface Def {
  type: string;
  innerType?: AnySchema;
  element?: AnySchema;
  options?: AnySchema[];
  discriminator?: string;
  shape?: Record<string, AnySchema>;
  values?: unknown[];
}

const def = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Strips optional/nullable/default wrappers. */
export function unwrap(s: AnySchema): AnySchema {
  let cur = s;
  for (;;) {
    const d = def(cur);
    if ((d.type === "optional" || d.type === "nullable" || d.type === "default" || d.type === "prefault") && d.innerType) cur = d.innerType;
    else return cur;
  }
}

export function description(s: AnySchema | undefined): string | undefined {
  let cur = s;
  while (cur) {
    if (cur.description) return cur.description;
    const d = def(cur);
    cur = d.innerType;
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The union branches that fit `data` (by discriminator when there is one), else all of them. */
function branches(s: AnySchema, data: unknown): AnySchema[] {
  const d = def(s);
  const options = d.options ?? [];
  if (!d.discriminator || !isRecord(data)) return options;
  const wanted = data[d.discriminator];
  const fitting = options.filter((o) => {
    const field = shapeOf(o)?.[d.discriminator!];
    return field !== undefined && (def(unwrap(field)).values ?? []).includes(wanted);
  });
  return fitting.length > 0 ? fitting : options;
}

function shapeOf(s: AnySchema): Record<string, AnySchema> | undefined {
  const d = def(unwrap(s));
  return d.type === "object" ? (d.shape ?? (s as unknown as { shape: Record<string, AnySchema> }).shape) : undefined;
}

/** Schemas (several when a union is undecided) that govern the value at `path`. */
export function schemasAt(root: AnySchema, path: DataPath, data: unknown): AnySchema[] {
  let current: { schema: AnySchema; data: unknown }[] = [{ schema: root, data }];
  for (const seg of path) {
    const next: { schema: AnySchema; data: unknown }[] = [];
    for (const { schema, data: value } of current) {
      const s = unwrap(schema);
      const d = def(s);
      const child = isRecord(value) ? value[String(seg)] : Array.isArray(value) && typeof seg === "number" ? value[seg] : undefined;
      if (d.type === "object") {
        const field = shapeOf(s)?.[String(seg)];
        if (field) next.push({ schema: field, data: child });
      } else if (d.type === "array" && d.element) {
        next.push({ schema: d.element, data: child });
      } else if (d.type === "union") {
        for (const b of branches(s, value)) {
          const bd = def(unwrap(b));
          if (bd.type === "object") {
            const field = shapeOf(b)?.[String(seg)];
            if (field) next.push({ schema: field, data: child });
          } else if (bd.type === "array" && bd.element) next.push({ schema: bd.element, data: child });
        }
      }
    }
    current = next;
    if (current.length === 0) return [];
  }
  return current.flatMap(({ schema, data: value }) => {
    const s = unwrap(schema);
    return def(s).type === "union" ? branches(s, value) : [schema];
  });
}

/** Keys accepted by the object(s) at `path`, in declaration order. */
export function knownKeys(root: AnySchema, path: DataPath, data: unknown): string[] {
  const keys: string[] = [];
  for (const s of schemasAt(root, path, data)) for (const k of Object.keys(shapeOf(s) ?? {})) if (!keys.includes(k)) keys.push(k);
  return keys;
}

/** The description of the field at `path`, if the schema has one. */
export function fieldDescription(root: AnySchema, path: DataPath, data: unknown): string | undefined {
  if (path.length === 0) return undefined;
  const parents = schemasAt(root, path.slice(0, -1), data);
  for (const p of parents) {
    const field = shapeOf(p)?.[String(path[path.length - 1])];
    const text = description(field);
    if (text) return text;
  }
  return undefined;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length]!;
}

/** The known key an unknown one was probably meant to be (case slips and small typos). */
export function suggestKey(unknown: string, known: readonly string[]): string | undefined {
  const lower = unknown.toLowerCase();
  const exact = known.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  let best: { key: string; d: number } | undefined;
  for (const k of known) {
    const d = distance(lower, k.toLowerCase());
    if (d <= Math.max(1, Math.floor(k.length / 4)) && (!best || d < best.d)) best = { key: k, d };
  }
  return best?.key;
}
