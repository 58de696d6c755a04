/**
 * Reading Node's errors without trusting their shape.
 */

/** The `code` of a Node system error (`ENOENT`, ...), if it has one. */
export function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** The message of an Error, or the value as text. */
export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
