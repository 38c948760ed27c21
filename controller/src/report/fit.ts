/**
 * Fits a text table to a terminal width: columns are two spaces apart; when
 * the table is wider than `width`, columns with nothing to say (every cell
 * below the header "-" or empty) are left out, then the widest shrinkable
 * column loses a character at a time (never below `minWidth` nor its
 * header's width) and cells that no longer fit end in "…". Columns in `keep` (host names, revisions) are never shrunk, so
 * what identifies a row stays whole. A table that cannot fit even then is cut
 * at the width, each line ending in "…". Cells must be single-line and
 * already visible() (no control characters). Pure.
 */
export interface FitOptions {
  /** Terminal width in columns; undefined → no fitting (HTTP text answers). */
  width?: number;
  /** Column indexes never shrunk. */
  keep?: readonly number[];
  /** Columns that give up width first (free text: messages, titles); the others shrink only when these are at their minimum. */
  flex?: readonly number[];
  /** Narrowest a shrunk column gets (default 5). */
  minWidth?: number;
}

const ELLIPSIS = "…";

export function clip(s: string, width: number): string {
  if (s.length <= width) return s;
  return width <= 0 ? "" : s.slice(0, width - 1) + ELLIPSIS;
}

/** A table's width: its columns, two spaces apart. */
const totalWidth = (widths: readonly number[]) => widths.reduce((a, b) => a + b, 0) + 2 * Math.max(0, widths.length - 1);

/** Column widths after fitting (exported for tests). */
export function fitWidths(natural: readonly number[], o: FitOptions, headers: readonly number[] = []): number[] {
  const widths = [...natural];
  if (o.width === undefined) return widths;
  const keep = new Set(o.keep ?? []);
  const minOf = (i: number) => Math.min(natural[i]!, Math.max(o.minWidth ?? 5, headers[i] ?? 0));
  let excess = totalWidth(widths) - o.width;
  const flex = new Set(o.flex ?? []);
  for (const stage of flex.size ? [(i: number) => flex.has(i), () => true] : [() => true]) {
    while (excess > 0) {
      // the widest shrinkable column, and how far it may go before it is no longer the widest
      let widest = -1;
      let second = 0;
      for (let i = 0; i < widths.length; i++) {
        if (keep.has(i) || !stage(i) || widths[i]! <= minOf(i)) continue;
        if (widest === -1 || widths[i]! > widths[widest]!) {
          if (widest !== -1) second = Math.max(second, widths[widest]!);
          widest = i;
        } else second = Math.max(second, widths[i]!);
      }
      if (widest === -1) break;
      const step = Math.max(1, Math.min(excess, widths[widest]! - Math.max(second, minOf(widest))));
      widths[widest] = widths[widest]! - step;
      excess -= step;
    }
  }
  return widths;
}

/** `rows[0]` is the header when `header` is set (default true). */
export function fitTable(input: readonly (readonly string[])[], o: FitOptions & { header?: boolean } = {}): string {
  if (input.length === 0) return "";
  const header = o.header ?? true;
  const naturalOf = (rs: readonly (readonly string[])[]) => Array.from({ length: rs[0]!.length }, (_, i) => rs.reduce((m, r) => Math.max(m, r[i]?.length ?? 0), 0));
  let rows = input;
  let keep = o.keep ?? [];
  let flex = o.flex ?? [];
  if (o.width !== undefined && header && totalWidth(naturalOf(rows)) > o.width) {
    const keepSet = new Set(keep);
    const body = rows.slice(1);
    const empty = rows[0]!.map((_, i) => !keepSet.has(i) && body.length > 0 && body.every((r) => r[i] === "-" || r[i] === ""));
    if (empty.some(Boolean)) {
      const kept = rows[0]!.map((_, i) => i).filter((i) => !empty[i]);
      rows = rows.map((r) => kept.map((i) => r[i]!));
      keep = kept.flatMap((orig, now) => (keepSet.has(orig) ? [now] : []));
      const flexSet = new Set(o.flex ?? []);
      flex = kept.flatMap((orig, now) => (flexSet.has(orig) ? [now] : []));
    }
  }
  const cols = rows[0]!.length;
  const natural = naturalOf(rows);
  const widths = fitWidths(natural, { ...o, keep, flex }, header ? rows[0]!.map((h) => h.length) : []);
  const lines = rows.map((r) => r.map((c, i) => (i === cols - 1 ? clip(c, widths[i]!) : clip(c, widths[i]!).padEnd(widths[i]!))).join("  ").trimEnd());
  return (o.width === undefined ? lines : lines.map((l) => clip(l, o.width!))).join("\n");
}
