// A reviewer's label for the image or one face, with a note; and the job's review history.
import { api, jobPath } from "./api.js";
import { field, h, select } from "./dom.js";
import { when } from "./format.js";

const LABELS = [["fake", "Fake"], ["real", "Real"], ["unsure", "Unsure"]];
const AGREEMENT = { agree: "agrees with the model", disagree: "disagrees with the model", "n/a": "" };

/** `onReviewed(review)` runs after each review is recorded. */
export function reviewPanel(page, job, faces, onReviewed) {
  if (!job.result) return null; // nothing judged, nothing to review
  const target = select("face", [["", "The whole image"],
    ...faces.map((face, index) => [String(index), `Face ${index + 1}`])], "");
  const note = h("textarea", { name: "note", maxlength: 2000, rows: 2 });
  const status = h("p", { class: "hint", role: "status" });
  const history = h("ol", { class: "reviews", "aria-label": "Reviews, newest first" });
  const buttons = LABELS.map(([label, text]) =>
    h("button", { type: "button", class: `label-${label}`, dataset: { label } }, text));

  async function loadHistory() {
    try {
      const { items } = await api(`${jobPath(job.id)}/reviews`, { signal: page.signal });
      history.replaceChildren(...items.map(reviewItem));
      if (!items.length) history.replaceChildren(h("li", { class: "hint" }, "No review yet."));
    } catch (error) {
      if (error.name === "AbortError") return;
      history.replaceChildren(h("li", { class: "error" }, `Reviews not loaded: ${error.message}`));
    }
  }

  async function submit(label) {
    for (const button of buttons) button.disabled = true;
    status.textContent = "Saving…";
    try {
      const review = await api(`${jobPath(job.id)}/reviews`, {
        method: "POST",
        json: { label, face: target.value === "" ? null : Number(target.value), note: note.value },
        signal: page.signal,
      });
      status.textContent = `Recorded: ${label}${review.face === null ? "" : ` for face ${review.face + 1}`}.`;
      note.value = "";
      onReviewed(review);
      await loadHistory();
    } catch (error) {
      if (error.name !== "AbortError") status.textContent = `Not recorded: ${error.message}`;
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  for (const button of buttons) button.addEventListener("click", () => submit(button.dataset.label));
  loadHistory();
  return h("section", { class: "review", "aria-labelledby": "review-title" },
    h("h2", { id: "review-title" }, "Review"),
    h("div", { class: "row" }, field("What you judge", target)),
    field("Note (optional)", note),
    h("div", { class: "row", role: "group", "aria-label": "Your label" },
      h("span", { class: "label" }, "Label it:"), buttons),
    status,
    history);
}

function reviewItem(review) {
  const agreement = AGREEMENT[review.agreement] ?? "";
  return h("li", { dataset: { reviewId: review.id } },
    h("span", { class: `badge review review-${review.label}` }, review.label),
    ` ${review.face === null || review.face === undefined ? "whole image" : `face ${review.face + 1}`}`,
    ` · ${review.reviewer ?? "unknown reviewer"} · ${when(review.created_at)}`,
    agreement ? ` · ${agreement}` : "",
    review.note ? h("blockquote", {}, review.note) : null);
}
