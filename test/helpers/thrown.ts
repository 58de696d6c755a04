/**
 * What `fn` throws, or undefined when it returns: for tests that assert on
 * an error's class and properties, not only its message.
 */
export function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}
