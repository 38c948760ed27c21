/**
 * A validator compiled from the generated JSON Schema (schemas/generated/),
 * for processes that must stay small: the agent checks its configuration,
 * the fleet file and the controller's answers with it and loads zod (13 MB
 * of a ~55 MB daemon) only to explain a rejection.
 *
 * Sound, not complete: when `compile(s)(v)` is true, the zod schema `s` was
 * generated from accepts `v` and returns it unchanged; when it is false, the
 * caller asks zod, whose verdict (and messages) stand. A value zod would
 * rewrite (a URL it trims) is therefore refused here. schemas/src/
 * json-check.test.ts checks that promise against zod on every fixture.
 *
 * Only the JSON Schema subset the generator emits is understood; anything
 * else throws at compile time, so nothing is silently ignored. Checks that
 * JSON Schema cannot say (a maximum duration, a reserved name) travel as the
 * `x-flotilla-check` keyword, written by schemas/src/registry.ts.
 */
import { CUSTOM_CHECKS, type CustomCheck } from "./custom-checks.js";

export type JsonSchema = { readonly [k: string]: unknown };
export type Check = (v: unknown) => boolean;

/** Keywords that only annotate. */
const ANNOTATIONS = new Set(["$schema", "$id", "description", "title", "examples", "deprecated", "readOnly", "writeOnly"]);

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

function typeCheck(t: string): Check {
  switch (t) {
    case "string":
      return (v) => typeof v === "string";
    case "number":
      return (v) => typeof v === "number" && Number.isFinite(v);
    case "integer":
      return (v) => typeof v === "number" && Number.isSafeInteger(v);
    case "boolean":
      return (v) => typeof v === "boolean";
    case "null":
      return (v) => v === null;
    case "array":
      return (v) => Array.isArray(v);
    case "object":
      return isObject;
    default:
      throw new Error(`json-check: unsupported type ${JSON.stringify(t)}`);
  }
}

/** Same JSON value (enum/const members are JSON). */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Compiles `schema`. The generated schemas repeat their building blocks
 * (every health check under hosts, groups and tags), so identical subschemas
 * share one compiled check (`memo`, keyed by their JSON text).
 */
export function compile(schema: JsonSchema, where = "#", memo: Map<string, Check> = new Map()): Check {
  const key = JSON.stringify(schema);
  const known = memo.get(key);
  if (known) return known;
  const made = compileOne(schema, where, memo);
  memo.set(key, made);
  return made;
}

function compileOne(schema: JsonSchema, where: string, memo: Map<string, Check>): Check {
  const checks: Check[] = [];
  for (const key of Object.keys(schema)) {
    if (ANNOTATIONS.has(key)) continue;
    const val = schema[key];
    const at = `${where}/${key}`;
    switch (key) {
      case "type": {
        const ts = (Array.isArray(val) ? val : [val]).map((t) => typeCheck(String(t)));
        checks.push(ts.length === 1 ? ts[0]! : (v) => ts.some((c) => c(v)));
        break;
      }
      case "enum": {
        const members = val as unknown[];
        checks.push((v) => members.some((m) => same(m, v)));
        break;
      }
      case "const":
        checks.push((v) => same(val, v));
        break;
      case "pattern": {
        const re = new RegExp(String(val));
        checks.push((v) => typeof v !== "string" || re.test(v));
        break;
      }
      case "minLength":
        checks.push((v) => typeof v !== "string" || v.length >= (val as number));
        break;
      case "maxLength":
        checks.push((v) => typeof v !== "string" || v.length <= (val as number));
        break;
      case "minimum":
        checks.push((v) => typeof v !== "number" || v >= (val as number));
        break;
      case "maximum":
        checks.push((v) => typeof v !== "number" || v <= (val as number));
        break;
      case "exclusiveMinimum":
        checks.push((v) => typeof v !== "number" || v > (val as number));
        break;
      case "exclusiveMaximum":
        checks.push((v) => typeof v !== "number" || v < (val as number));
        break;
      case "minItems":
        checks.push((v) => !Array.isArray(v) || v.length >= (val as number));
        break;
      case "maxItems":
        checks.push((v) => !Array.isArray(v) || v.length <= (val as number));
        break;
      case "items": {
        const item = compile(val as JsonSchema, at, memo);
        checks.push((v) => !Array.isArray(v) || v.every(item));
        break;
      }
      case "required": {
        const req = val as string[];
        checks.push((v) => !isObject(v) || req.every((k) => Object.prototype.hasOwnProperty.call(v, k)));
        break;
      }
      case "properties": {
        const props = Object.entries(val as Record<string, JsonSchema>).map(([k, s]) => [k, compile(s, `${at}/${k}`, memo)] as const);
        // A key present with the value undefined cannot come from JSON or YAML; refuse it so zod decides.
        checks.push((v) => !isObject(v) || props.every(([k, c]) => !Object.prototype.hasOwnProperty.call(v, k) || (v[k] !== undefined && c(v[k]))));
        break;
      }
      case "additionalProperties": {
        const known = new Set(Object.keys((schema.properties as object | undefined) ?? {}));
        if (val === false) {
          checks.push((v) => !isObject(v) || Object.keys(v).every((k) => known.has(k)));
        } else if (isObject(val)) {
          const extra = compile(val, at, memo);
          checks.push((v) => !isObject(v) || Object.keys(v).every((k) => known.has(k) || extra(v[k])));
        } else if (val !== true) throw new Error(`json-check: ${at}: unsupported value`);
        break;
      }
      case "propertyNames": {
        const name = compile(val as JsonSchema, at, memo);
        checks.push((v) => !isObject(v) || Object.keys(v).every(name));
        break;
      }
      case "anyOf": {
        const alts = (val as JsonSchema[]).map((s, i) => compile(s, `${at}/${i}`, memo));
        checks.push((v) => alts.some((c) => c(v)));
        break;
      }
      case "oneOf": {
        const alts = (val as JsonSchema[]).map((s, i) => compile(s, `${at}/${i}`, memo));
        checks.push((v) => alts.filter((c) => c(v)).length === 1);
        break;
      }
      case "allOf": {
        const all = (val as JsonSchema[]).map((s, i) => compile(s, `${at}/${i}`, memo));
        checks.push((v) => all.every((c) => c(v)));
        break;
      }
      case "format":
        // Formats are checked by a pattern or an x-flotilla-check beside them (the generator adds one).
        if (schema.pattern === undefined && schema["x-flotilla-check"] === undefined) throw new Error(`json-check: ${at}: format ${JSON.stringify(val)} without a pattern or x-flotilla-check`);
        break;
      case "x-flotilla-check":
        for (const c of (Array.isArray(val) ? val : [val]) as CustomCheck[]) {
          const impl = CUSTOM_CHECKS[c.name];
          if (!impl) throw new Error(`json-check: ${at}: unknown check ${JSON.stringify(c.name)}`);
          checks.push((v) => impl(v, c));
        }
        break;
      default:
        throw new Error(`json-check: ${at}: unsupported keyword`);
    }
  }
  return checks.length === 1 ? checks[0]! : (v) => checks.every((c) => c(v));
}
