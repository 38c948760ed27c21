/** How wide a command's text output may be: $COLUMNS, else the terminal's width, else 100. */
export function terminalWidth(stdout: NodeJS.WritableStream, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.COLUMNS);
  if (Number.isInteger(fromEnv) && fromEnv >= 20) return fromEnv;
  const cols = (stdout as { columns?: number }).columns;
  return typeof cols === "number" && cols > 0 ? cols : 100;
}

export const isTty = (stdout: NodeJS.WritableStream): boolean => (stdout as { isTTY?: boolean }).isTTY === true;
