/**
 * Names, paths and patterns of the fleet file that end up in a command line,
 * a file system path, a systemd call or a generated file on the hosts: each
 * is checked here so that `flotilla validate` and the agents refuse the same
 * values, before anything is run with them.
 */
import { z } from "zod";
import { named } from "./custom-checks.js";
import {
  BODY_MATCH_MAX_BYTES,
  bodyMatchProblem,
  GIT_BRANCH_PATTERN,
  isNormalAbsolutePath,
  POSIX_NAME_PATTERN,
  reservedSecretName,
  SIGNER_PRINCIPAL_PATTERN,
  SYSTEMD_UNIT_PATTERN,
} from "./names.js";

export { BODY_MATCH_MAX_BYTES, bodyMatchProblem, GIT_BRANCH_PATTERN, isNormalAbsolutePath, POSIX_NAME_PATTERN, reservedSecretName, SIGNER_PRINCIPAL_PATTERN, SYSTEMD_UNIT_PATTERN };

export const PosixName = z
  .string()
  .regex(POSIX_NAME_PATTERN, { message: "expected a user or group name: lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32 characters" });

/**
 * A systemd unit name (systemd.unit(5)): letters, digits and `:-_.\@`, at
 * most 255 characters, never starting with `-` (systemctl would read it as
 * an option).
 */
export const SystemdUnitName = z
  .string()
  .regex(SYSTEMD_UNIT_PATTERN, { message: "expected a systemd unit name such as \"nginx.service\": letters, digits, ':', '_', '.', '\\', '@', '-', not starting with '-'" });

export const SecretName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/, { message: "expected a secret name: letters, digits, '_', '.', '-'" })
  .refine(named((n: string) => !reservedSecretName(n), { name: "secretName" }), { message: "expected a secret name other than \".\", \"..\" or one starting with \".flotilla\" (reserved)" });

export const SecretPath = z
  .string()
  .min(1)
  .refine(named((p: string) => p === "" || isNormalAbsolutePath(p), { name: "normalPath" }), { message: "expected an absolute, normalised path such as \"/run/app/db-password\" (no '.', '..' or '//' components, no trailing '/')" });

export const SignerPrincipal = z
  .string()
  .regex(SIGNER_PRINCIPAL_PATTERN, { message: "expected one principal such as \"alice@example.com\": no spaces, newlines, quotes, ',', '*', '?' or '!'" })
  .describe("Who signs (an email, usually): one token without spaces, quotes, ',', '*', '?' or '!'.");

export const GitBranch = z.string().regex(GIT_BRANCH_PATTERN, { message: "expected a git branch name such as \"main\" or \"release/prod\"" });

export const BodyMatch = z
  .string()
  .refine(named((p: string) => bodyMatchProblem(p) === null, { name: "bodyMatch" }), { error: (issue) => bodyMatchProblem(String(issue.input)) ?? "expected a valid regular expression" })
  .describe(
    `A regular expression (JavaScript syntax) the body must match; matched against the first ${BODY_MATCH_MAX_BYTES / 1024} KiB of the body. Backreferences and nested quantifiers ((a+)+, (a|b)*) are refused: they can stall the agent.`,
  );
