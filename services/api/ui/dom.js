/**
 * A tiny element builder: every value from the API goes in as text or a property, never as HTML, so
 * nothing a job spec holds can run in the page.
 *
 * @param {string} tag `div`, `td.num`, `span.pill.running`: a tag with optional classes.
 * @param {Record<string, unknown> | null} [props] Properties (`href`, `title`, `onclick`, `dataset`, `aria-*`).
 * @param {...(Node | string | number | null | undefined | false | Array<Node | string>)} children
 * @returns {HTMLElement}
 */
export function h(tag, props, ...children) {
  const [name = 'div', ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length > 0) el.className = classes.join(' ');
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('aria-') || key === 'role' || key === 'for') el.setAttribute(key, String(value));
    else if (key === 'class') el.className = [el.className, value].filter(Boolean).join(' ');
    else el[key] = value;
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A status pill (`queued`, `running`, `failed`, delivery and chunk states): its colour comes from app.css. */
export function pill(state) {
  return h(`span.pill.s-${state}`, null, state);
}

/**
 * A progress bar: `value` 0–1, with its percentage as the accessible value and a label beside it.
 *
 * @param {number} value
 * @param {string} label
 * @param {string} [state] The job's status, colouring the bar.
 */
export function progressBar(value, label, state = 'running') {
  const percent = Math.max(0, Math.min(100, value * 100));
  const fill = h('span.bar-fill');
  // A CSSOM property, not a style attribute: the CSP allows no inline styles.
  fill.style.width = `${percent.toFixed(1)}%`;
  return h(
    `div.bar-wrap.s-${state}`,
    null,
    h(
      'div.bar',
      {
        role: 'progressbar',
        'aria-valuemin': 0,
        'aria-valuemax': 100,
        'aria-valuenow': percent.toFixed(1),
        'aria-label': label,
      },
      fill,
    ),
    h('span.bar-label', null, label),
  );
}
