// The console's shell: sign-in, navigation and the hash routes
// #/jobs, #/jobs/<id>, #/batches, #/about.
import { ApiError, api, session } from "./api.js";
import { renderAbout } from "./about.js";
import { renderBatches } from "./batches.js";
import { PageScope, field, h, notify } from "./dom.js";
import { renderGallery } from "./gallery.js";
import { renderJob } from "./job.js";

const view = document.getElementById("view");
const nav = document.getElementById("nav");
let scope = null;

const ROUTES = [
  [/^#\/jobs\/([^/?]+)$/, (page, match) => renderJob(page, decodeURIComponent(match[1]))],
  [/^#\/jobs(\?.*)?$/, (page, match) => renderGallery(page, new URLSearchParams(match[1] ?? ""))],
  [/^#\/batches$/, (page) => renderBatches(page)],
  [/^#\/about$/, (page) => renderAbout(page)],
];

function route() {
  scope?.dispose();
  scope = new PageScope();
  const signedIn = Boolean(session.key);
  nav.hidden = !signedIn;
  markCurrent();
  const hash = location.hash || "#/jobs";
  // The about page is public: it says what scores mean to anyone about to sign in.
  if (!signedIn && hash !== "#/about") {
    renderSignIn(scope);
    return;
  }
  for (const [pattern, render] of ROUTES) {
    const match = pattern.exec(hash);
    if (match) {
      show(scope, render(scope, match));
      return;
    }
  }
  location.replace("#/jobs");
}

/** Puts the page in place and moves focus to its heading, for keyboard and screen readers. */
function show(page, content) {
  Promise.resolve(content).then((element) => {
    if (!page.alive) return;
    view.replaceChildren(element);
    const heading = view.querySelector("h1");
    if (heading) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
      document.title = `${heading.textContent} · deepfake console`;
    }
  }, (error) => {
    if (!page.alive || error.name === "AbortError") return;
    view.replaceChildren(h("section", {},
      h("h1", {}, "Something went wrong"),
      h("p", { class: "error", role: "alert" }, error.message)));
  });
}

function markCurrent() {
  const current = (location.hash || "#/jobs").split(/[/?]/).slice(0, 2).join("/");
  for (const link of nav.querySelectorAll("a")) {
    if (link.getAttribute("href") === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function renderSignIn(page, reason) {
  const keyInput = h("input", {
    type: "password", name: "api-key", autocomplete: "off", required: true,
    spellcheck: "false", placeholder: "dfk_…",
  });
  const message = h("p", { class: "error", role: "alert" }, reason ?? "");
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card narrow", "aria-labelledby": "sign-in-title" },
    h("h1", { id: "sign-in-title" }, "Sign in"),
    h("p", {}, "Sign in with an API key of your tenant. The key is kept for this browser ",
      "tab only (session storage) and sent with each request; closing the tab forgets it."),
    field("API key", keyInput),
    submit,
    message,
    h("p", {}, h("a", { href: "#/about" }, "What a score does and does not mean")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    submit.disabled = true;
    message.textContent = "";
    try {
      await api("/v1/jobs?limit=1", { key, signal: page.signal });
      session.signIn(key);
      if (location.hash && location.hash !== "#/about") route();
      else location.hash = "#/jobs";
    } catch (error) {
      if (error.name === "AbortError") return;
      message.textContent = error instanceof ApiError && error.status === 401
        ? "That key was not accepted." : error.message;
    } finally {
      submit.disabled = false;
    }
  });
  show(page, form);
  setTimeout(() => keyInput.focus(), 0);
}

document.getElementById("sign-out").addEventListener("click", () => {
  session.signOut();
  notify("Signed out.");
  route();
});

window.addEventListener("console:signed-out", (event) => {
  scope?.dispose();
  scope = new PageScope();
  nav.hidden = true;
  renderSignIn(scope, `Signed out: ${event.detail}`);
});

window.addEventListener("hashchange", route);
route();
