/**
 * @module secrets/sops/go-format
 * Go's text formatting and parsing of scalar values, byte-for-byte, because the
 * sops MAC hashes values as Go prints them (strconv.Itoa, FormatFloat 'f' -1,
 * "True"/"False", time.MarshalText) and decodes them with Atoi, ParseFloat,
 * ParseBool and time.UnmarshalText.
 */

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** strconv.Atoi on a 64-bit platform: optional sign, decimal digits, int64 range. */
export function goAtoi(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

/** strconv.ParseBool. */
export function goParseBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

/** strconv.ParseFloat(s, 64) for decimal, inf and nan forms (hex floats are rejected). */
export function goParseFloat(s: string): number | undefined {
  const special = /^([+-]?)(inf|infinity|nan)$/i.exec(s);
  if (special) {
    if (special[2]!.toLowerCase() === "nan") return special[1] === "" ? Number.NaN : undefined;
    return special[1] === "-" ? -Infinity : Infinity;
  }
  // Go accepts underscores only with a base prefix; plain decimal here.
  if (!/^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$/.test(s)) return undefined;
  const v = Number(s);
  if (!Number.isFinite(v)) return undefined; // ErrRange
  return v;
}

/** strconv.FormatFloat(v, 'f', -1, 64): shortest round-trip digits, never an exponent. */
export function goFormatFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const neg = v < 0;
  // toExponential() without argument yields the shortest round-trip digits.
  const m = /^(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(Math.abs(v).toExponential());
  if (!m) throw new Error("unreachable: toExponential format");
  const digits = m[1]! + (m[2] ?? "");
  const exp = Number(m[3]);
  let out: string;
  if (exp >= digits.length - 1) out = digits + "0".repeat(exp - (digits.length - 1));
  else if (exp >= 0) out = `${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
  else out = `0.${"0".repeat(-exp - 1)}${digits}`;
  return neg ? `-${out}` : out;
}

/** Go's FormatFloat(v, 'g', -1, 64), as yaml.v3 writes floats. */
export function goFormatFloatG(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(v.toExponential());
  if (!m) throw new Error("unreachable");
  const exp = Number(m[4]);
  const digits = m[2]! + (m[3] ?? "");
  // Go: with shortest formatting, %g switches to exponent form when exp < -4 || exp >= 6.
  const eprec = 6;
  if (exp < -4 || exp >= eprec) {
    const mant = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp);
    return `${m[1]}${mant}e${exp < 0 ? "-" : "+"}${e < 10 ? "0" : ""}${e}`;
  }
  return (m[1] === "-" ? "-" : "") + goFormatFloat(Math.abs(v));
}

interface ParsedTime {
  date: string; // YYYY-MM-DD
  clock: string; // hh:mm:ss
  frac: string; // digits without dot, may be ""
  offset: string; // "Z" or ±hh:mm
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

function parseRfc3339(s: string): ParsedTime | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const [y, mo, d] = m[1]!.split("-").map(Number) as [number, number, number];
  const [h, mi, se] = m[2]!.split(":").map(Number) as [number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return undefined;
  if (h > 23 || mi > 59 || se > 59) return undefined;
  let offset = m[4]!;
  if (offset !== "Z") {
    const [oh, om] = offset.slice(1).split(":").map(Number) as [number, number];
    if (oh > 23 || om > 59) return undefined;
    if (oh === 0 && om === 0) offset = "Z"; // Go prints a zero offset as Z
  }
  return { date: m[1]!, clock: m[2]!, frac: m[3] ?? "", offset };
}

/** time.Time.MarshalText after UnmarshalText (RFC 3339 with nanoseconds, trailing zeros dropped). */
export function goTimeMarshalText(s: string): string | undefined {
  const t = parseRfc3339(s);
  if (!t) return undefined;
  const frac = t.frac.replace(/0+$/, "");
  return `${t.date}T${t.clock}${frac ? `.${frac}` : ""}${t.offset}`;
}

/** time.Parse(RFC3339, s).Format(RFC3339): seconds precision, as sops uses lastmodified for the MAC's AAD. */
export function goTimeRfc3339(s: string): string | undefined {
  const t = parseRfc3339(s);
  if (!t) return undefined;
  return `${t.date}T${t.clock}${t.offset}`;
}

/** Now, formatted as sops writes lastmodified. */
export function rfc3339Now(now: Date = new Date()): string {
  return now.toISOString().replace(/\.\d+Z$/, "Z");
}
