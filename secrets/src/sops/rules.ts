/**
 * @module secrets/sops/rules
 * Which values sops encrypts: unencrypted/encrypted suffix, regex and comment
 * regex rules, exactly as `Tree.shouldBeEncrypted` in getsops/sops decides.
 */

export interface CryptRules {
  unencryptedSuffix?: string | undefined;
  encryptedSuffix?: string | undefined;
  unencryptedRegex?: string | undefined;
  encryptedRegex?: string | undefined;
  unencryptedCommentRegex?: string | undefined;
  encryptedCommentRegex?: string | undefined;
}

/**
 * Compile a Go RE2 pattern for JS. RE2 syntax is almost a subset of JS's;
 * leading inline flag groups like `(?i)` are turned into JS flags.
 */
export function compileGoRegex(re: string): RegExp {
  let flags = "u";
  let src = re;
  const m = /^\(\?([imsU]+)\)/.exec(src);
  if (m) {
    for (const f of m[1]!) if (f === "i" || f === "m" || f === "s") flags += f;
    src = src.slice(m[0].length);
  }
  return new RegExp(src, flags);
}

export class RuleSet {
  private readonly unencRe: RegExp | undefined;
  private readonly encRe: RegExp | undefined;
  private readonly unencCommentRe: RegExp | undefined;
  private readonly encCommentRe: RegExp | undefined;

  constructor(readonly rules: CryptRules) {
    this.unencRe = rules.unencryptedRegex ? compileGoRegex(rules.unencryptedRegex) : undefined;
    this.encRe = rules.encryptedRegex ? compileGoRegex(rules.encryptedRegex) : undefined;
    this.unencCommentRe = rules.unencryptedCommentRegex ? compileGoRegex(rules.unencryptedCommentRegex) : undefined;
    this.encCommentRe = rules.encryptedCommentRegex ? compileGoRegex(rules.encryptedCommentRegex) : undefined;
  }

  /** Number of rules set; sops allows at most one per file. */
  static count(r: CryptRules): number {
    return [r.unencryptedSuffix, r.encryptedSuffix, r.unencryptedRegex, r.encryptedRegex, r.unencryptedCommentRegex, r.encryptedCommentRegex].filter(
      (x) => x !== undefined && x !== "",
    ).length;
  }

  shouldBeEncrypted(path: readonly string[], commentsStack: readonly (readonly string[])[], isComment: boolean): boolean {
    const r = this.rules;
    let encrypted = true;
    if (r.unencryptedSuffix) {
      if (path.some((p) => p.endsWith(r.unencryptedSuffix!))) encrypted = false;
    }
    if (r.encryptedSuffix) {
      encrypted = path.some((p) => p.endsWith(r.encryptedSuffix!));
    }
    if (this.unencRe) {
      if (path.some((p) => this.unencRe!.test(p))) encrypted = false;
    }
    if (this.encRe) {
      encrypted = path.some((p) => this.encRe!.test(p));
    }
    if (this.unencCommentRe) {
      if (commentsStack.some((cs) => cs.some((c) => this.unencCommentRe!.test(c)))) encrypted = false;
    }
    if (this.encCommentRe) {
      const last = commentsStack.length - 1;
      const lastLen = commentsStack[last]?.length ?? 0;
      encrypted = false;
      outer: for (let i = 0; i < commentsStack.length; i++) {
        const cs = commentsStack[i]!;
        for (let j = 0; j < cs.length; j++) {
          // sops never encrypts the comment line that carries the marker itself.
          if (isComment && i === last && j === lastLen - 1) continue;
          if (this.encCommentRe.test(cs[j]!)) {
            encrypted = true;
            break outer;
          }
        }
      }
    }
    return encrypted;
  }
}
