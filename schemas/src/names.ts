/**
 * The patterns and pure checks behind the fleet file's names and paths
 * (fleet-names.ts wraps them in zod schemas). No zod here: the agent checks
 * values with these through schemas/src/json-check.ts without loading zod.
 */

/** A POSIX user or group name as useradd/groupadd accept it (NAME_REGEX), at most 32 characters. */
export const POSIX_NAME_PATTERN = /^[a-z_][a-z0-9_-]{0,30}[a-z0-9_$-]?$/;

export const SYSTEMD_UNIT_PATTERN = /^[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]{0,254}$/;

/** Secret names that would collide with the secrets directory's own entries. */
export function reservedSecretName(name: string): boolean {
  return name === "." || name === ".." || name.startsWith(".flotilla");
}

/** An absolute, normalised path: no ".", ".." or empty components, no trailing "/". */
export function isNormalAbsolutePath(p: string): boolean {
  if (!p.startsWith("/") || /[\0\n]/.test(p)) return false;
  const parts = p.slice(1).split("/");
  return parts.every((c) => c !== "" && c !== "." && c !== "..");
}

/**
 * An allowed signer's principal as written into git's allowed-signers file:
 * one token, so no whitespace (a newline would start a second, injected
 * line), no quotes, commas or pattern characters (which would widen it).
 */
export const SIGNER_PRINCIPAL_PATTERN = /^[^\s",*?!]+$/;

/** A branch name git accepts (git check-ref-format --branch), the common subset. */
export const GIT_BRANCH_PATTERN = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!\/)(?!.*\/$)(?!.*\.lock$)(?!.*\.$)(?!.*\/\.)(?!\.)[A-Za-z0-9._\/+-]+$/;

/**
 * Why a health check's `bodyMatch` is refused, or null when it is fine. The
 * agent runs it with JavaScript's backtracking engine on at most
 * BODY_MATCH_MAX_BYTES of the body, so patterns that can backtrack
 * exponentially are refused: a quantified group that itself contains a
 * quantifier or an alternation (`(a+)+`, `(a|a)*`), and backreferences.
 */
export function bodyMatchProblem(pattern: string): string | null {
  try {
    new RegExp(pattern);
  } catch (e) {
    return `expected a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, "")}`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) return "expected a regular expression without backreferences (\\1, \\k<name>): they can make the match take exponential time";
  // Groups: does each contain a quantifier or an alternation, and is it quantified itself?
  const stack: { risky: boolean }[] = [];
  let inClass = false;
  const quantifierAt = (i: number): boolean => {
    const c = pattern[i];
    if (c === "*" || c === "+") return true;
    if (c === "{") return /^\{\d+,\d*\}/.test(pattern.slice(i)) && !/^\{(\d+),\1\}/.test(pattern.slice(i)) && !/^\{[01],1\}/.test(pattern.slice(i));
    return false;
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") inClass = true;
    else if (c === "(") stack.push({ risky: false });
    else if (c === ")") {
      const group = stack.pop();
      if (group?.risky && quantifierAt(i + 1)) {
        return "expected a regular expression without nested quantifiers such as (a+)+ or (a|b)*: they can make the match take exponential time";
      }
      if (group?.risky && stack.length > 0) stack[stack.length - 1]!.risky = true;
    } else if ((quantifierAt(i) || c === "|") && stack.length > 0) {
      stack[stack.length - 1]!.risky = true;
    }
  }
  return null;
}

/** The agent matches `bodyMatch` against at most this many bytes of the body (the rest is ignored). */
export const BODY_MATCH_MAX_BYTES = 64 * 1024;

/** Weekday names of maintenance windows (fleet-windows.ts), Monday first. */
export const WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;
