// Building the page without HTML strings: every value becomes a text node or a property,
// so nothing a user supplied (metadata, file names, notes, error messages) is parsed.

const FORBIDDEN = new Set(["innerHTML", "outerHTML", "srcdoc", "style"]);

/** An element: `h("a", {href: "#/jobs", class: "card"}, "text", child)`. */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (FORBIDDEN.has(name)) throw new Error(`h(): ${name} is not allowed`);
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name === "value" || name === "checked" || name === "disabled") element[name] = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

export function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

let fieldCount = 0;

/** A control with its label (`for`), so the label alone names it. */
export function field(labelText, control, hint) {
  control.id ||= `field-${(fieldCount += 1)}`;
  return h("div", { class: "field" }, h("label", { class: "label", for: control.id }, labelText),
    control, hint ? h("span", { class: "hint" }, hint) : null);
}

export function select(name, options, value) {
  return h("select", { name },
    options.map(([optionValue, text]) =>
      h("option", { value: optionValue, selected: optionValue === value }, text)));
}

/** Resources of the page on screen: object URLs, timers and requests, all released when
 * the console leaves the page. */
export class PageScope {
  constructor() {
    this.controller = new AbortController();
    this.urls = new Set();
    this.timers = new Set();
    this.cleanups = [];
  }

  get signal() {
    return this.controller.signal;
  }

  get alive() {
    return !this.controller.signal.aborted;
  }

  objectUrl(blob) {
    const url = URL.createObjectURL(blob);
    this.urls.add(url);
    return url;
  }

  revoke(url) {
    if (this.urls.delete(url)) URL.revokeObjectURL(url);
  }

  /** Calls `task` every `ms` while the page is visible; one call at a time. */
  every(ms, task) {
    let running = false;
    const timer = setInterval(async () => {
      if (running || document.visibilityState !== "visible" || !this.alive) return;
      running = true;
      try {
        await task();
      } finally {
        running = false;
      }
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  onDispose(cleanup) {
    this.cleanups.push(cleanup);
  }

  dispose() {
    this.controller.abort();
    for (const timer of this.timers) clearInterval(timer);
    for (const url of this.urls) URL.revokeObjectURL(url);
    for (const cleanup of this.cleanups) cleanup();
    this.timers.clear();
    this.urls.clear();
  }
}

let noticeTimer;

/** A short message in the polite live region at the foot of the page. */
export function notify(message, kind = "info") {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  notice.dataset.kind = kind;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice.textContent = ""; }, 8000);
}
