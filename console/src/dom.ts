/** A tiny element builder: `h('p', { class: 'note' }, 'text', child)`. Text is always text, never markup. */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, ...children);
  return el;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** Markup the console built itself from escaped parts (the SVG chart), parsed once. */
export function trustedSvg(markup: string): Node {
  const template = document.createElement('template');
  template.innerHTML = markup;
  return template.content;
}

/** A labelled progress bar with a live text next to it. */
export function progressBar(label: string): { el: HTMLElement; set(fraction: number, note?: string): void } {
  const id = `p-${Math.random().toString(36).slice(2, 8)}`;
  const bar = h('progress', { id, max: 100, value: 0 });
  const note = h('span', { class: 'progress-note', 'aria-live': 'polite' }, '0 %');
  const el = h('div', { class: 'progress' }, h('label', { for: id }, label), bar, note);
  return {
    el,
    set(fraction, text) {
      const pct = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
      bar.value = pct;
      note.textContent = `${pct} %${text ? ` · ${text}` : ''}`;
    },
  };
}

/** A message region: errors are announced (role=alert), notes politely. */
export function message(kind: 'error' | 'note' | 'ok', text: string): HTMLElement {
  return h('p', { class: `message ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

export function definitionList(entries: readonly { label: string; value: string }[]): HTMLElement {
  const dl = h('dl');
  for (const e of entries) append(dl, h('dt', {}, e.label), h('dd', {}, e.value));
  return dl;
}
