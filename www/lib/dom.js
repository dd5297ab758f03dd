// @ts-check
// The pages' own elements, looked up by what they are.

/**
 * The element `selector` finds in `root`, one the page's HTML always has: a missing one is a
 * bug in the page, named here rather than met later as "cannot read properties of null".
 * @template {Element} [T=HTMLElement]
 * @param {string} selector
 * @param {{ new (): T, prototype: T }} [type] what it must be (instanceof); HTMLElement if left out
 * @param {ParentNode} [root]
 * @returns {T}
 */
export function element(selector, type, root = document) {
  const found = root.querySelector(selector);
  const wanted = type ?? HTMLElement;
  if (!(found instanceof wanted)) {
    throw new Error(found ? `${selector} is not a ${wanted.name}` : `the page has no ${selector}`);
  }
  return /** @type {T} */ (found);
}

/**
 * What was thrown, as a name and message for a status line (anything may be thrown in JS).
 * @param {unknown} error
 * @returns {{ name: string, message: string }}
 */
export function describeError(error) {
  if (error instanceof Error) return { name: error.name, message: error.message };
  if (error && typeof error === 'object' && 'message' in error) {
    const { name, message } = /** @type {{ name?: unknown, message: unknown }} */ (error);
    return { name: typeof name === 'string' ? name : 'Error', message: String(message) };
  }
  return { name: 'Error', message: String(error) };
}
