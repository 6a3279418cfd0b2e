// The explanation overlay, on demand: asked for once, polled until ready, then laid over
// the square each face was cut from and listed below the image.
import { api, apiBlob, jobPath } from "./api.js";
import { h } from "./dom.js";
import { capitalise, percent } from "./format.js";

const POLL_MS = 1000;
const MAX_POLLS = 120;

export function explanationPanel(page, job, figure) {
  const button = h("button", { type: "button", "aria-pressed": "false" }, "Show explanation");
  const status = h("p", { class: "hint", role: "status" });
  const list = h("ul", { class: "explanations", "aria-label": "Explanations per face" });
  const overlays = [];
  let requested = false;

  async function fetchExplanation() {
    const path = `${jobPath(job.id)}/explanations`;
    let explanation = await api(path, { method: "POST", signal: page.signal });
    for (let polls = 0; explanation.status === "pending" && polls < MAX_POLLS; polls += 1) {
      status.textContent = "Computing the explanation…";
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (!page.alive) return null;
      explanation = await api(path, { signal: page.signal });
    }
    return explanation;
  }

  async function show() {
    requested = true;
    button.disabled = true;
    status.textContent = "Asking for the explanation…";
    try {
      const explanation = await fetchExplanation();
      if (!explanation || !page.alive) return;
      if (explanation.status !== "ready") {
        status.textContent = `No explanation: ${explanation.error?.message ?? "still not ready"}`;
        requested = false;
        return;
      }
      await Promise.all(explanation.faces.map((face) => addFace(face)));
      status.textContent = `Explanation by ${explanation.model_name} v${explanation.model_version}: `
        + "light, hot areas are where covering the face lowered the score most. It shows where the model looked, not proof.";
      toggle(true);
    } catch (error) {
      if (error.name === "AbortError") return;
      requested = false;
      status.textContent = `No explanation: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  }

  async function addFace(face) {
    const { blob } = await apiBlob(face.image, { signal: page.signal });
    if (!page.alive) return;
    const name = face.box === null ? "the whole image" : `face ${face.index + 1}`;
    const url = page.objectUrl(blob);
    // Each map is laid over what the model saw: the square cut around the face (it may
    // reach past the image's edges), or the whole image.
    if (face.region) {
      const overlay = h("img", { src: url, alt: "", class: "heat" });
      figure.place(overlay, face.region);
      overlays.push(overlay);
    } else if (face.box === null) {
      const overlay = h("img", { src: url, alt: "", class: "heat cover" });
      figure.cover(overlay);
      overlays.push(overlay);
    }
    list.append(h("li", {},
      h("img", { src: url, alt: `Explanation of ${name}` }),
      h("span", {}, `${capitalise(name)} · P(fake) ${percent(face.fake_probability)}`)));
  }

  function toggle(visible) {
    for (const overlay of overlays) overlay.hidden = !visible;
    list.hidden = !visible;
    button.setAttribute("aria-pressed", String(visible));
    button.textContent = visible ? "Hide explanation" : "Show explanation";
  }

  button.addEventListener("click", () => {
    if (!requested) show();
    else toggle(button.getAttribute("aria-pressed") !== "true");
  });
  return h("section", { class: "explanation", "aria-labelledby": "explanation-title" },
    h("h2", { id: "explanation-title" }, "Explanation"),
    button, status, list);
}
