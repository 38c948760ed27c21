/**
 * Makes host-controlled text safe for an operator's terminal: every C0 and C1
 * control character (ESC, CSI, OSC, BEL, CR, LF, TAB, …), DEL, and the Unicode
 * line separators and bidirectional overrides (which reorder what the terminal
 * shows) are replaced by a visible escape: \x1b, \x9b, \r, \n, \t, \u202e.
 * Agent reports (messages, reasons, errors), PR titles and host names pass
 * through here before `flotilla status|audit` print them as text or Markdown.
 * Pure.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

export function visible(s: string): string {
  return s.replace(UNSAFE, (ch) => {
    const code = ch.charCodeAt(0);
    return NAMED[ch] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`);
  });
}

/** visible() on each line of a rendered document, keeping its line breaks. */
export function visibleLines(doc: string): string {
  return doc.split("\n").map(visible).join("\n");
}
