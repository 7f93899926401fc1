/** A tiny element builder: text always goes in as text, never as HTML. */

type Child = Node | string | null | undefined | false;
type AttributeValue = string | number | boolean | null | undefined;
type Attributes = Record<string, AttributeValue | ((event: Event) => void)>;

/**
 * Makes an element. `class` sets the class name, `on…` functions become listeners, and
 * `true`, `false`, `null` or `undefined` set or leave out a boolean attribute.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === 'function') element.addEventListener(name.slice(2).toLowerCase(), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value !== false && value !== null && value !== undefined)
      element.setAttribute(name, String(value));
  }
  element.append(
    ...children.filter(
      (child): child is Node | string => child !== null && child !== undefined && child !== false,
    ),
  );
  return element;
}

/** Sets an attribute only when it changes, so styles and observers see real changes only. */
export function setAttribute(element: Element, name: string, value: string): void {
  if (element.getAttribute(name) !== value) element.setAttribute(name, value);
}

/** Sets the text of an element only when it changes. */
export function setText(element: Element, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

const parser = new DOMParser();

/** Parses one of the app's own static SVG strings (never user input) into an element. */
export function svg(markup: string): SVGSVGElement {
  const namespaced = markup.replace('<svg ', '<svg xmlns="http://www.w3.org/2000/svg" ');
  return document.importNode(
    parser.parseFromString(namespaced, 'image/svg+xml').documentElement,
    true,
  ) as unknown as SVGSVGElement;
}
