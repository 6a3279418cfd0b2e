// #/batches: submit a CSV of image URLs, follow progress, cancel, download results.
import { api, batchPath, download } from "./api.js";
import { field, h, notify, select } from "./dom.js";
import { timeElement } from "./format.js";

const REFRESH_MS = 2000;

export async function renderBatches(page) {
  const list = h("ul", { class: "batches", "aria-label": "Batches, newest first" });
  const summary = h("p", { class: "hint", "aria-live": "polite" });
  const rows = new Map();

  async function refresh() {
    let batches;
    try {
      batches = await listBatches(page.signal);
    } catch (error) {
      if (error.name !== "AbortError") summary.textContent = `Could not load batches: ${error.message}`;
      return;
    }
    if (!page.alive) return;
    const ordered = batches.map((batch) => batchRow(page, rows, batch, refresh));
    const shown = [...list.children];
    if (ordered.length !== shown.length || ordered.some((node, i) => node !== shown[i])) {
      list.replaceChildren(...ordered);
    }
    summary.textContent = batches.length ? "" : "No batches yet.";
  }

  await refresh();
  page.every(REFRESH_MS, refresh);
  return h("section", { class: "batches-page" },
    h("h1", {}, "Batches"),
    submitForm(page, refresh),
    h("h2", {}, "Recent batches"),
    summary,
    list);
}

async function listBatches(signal) {
  return (await api("/v1/batches?limit=20", { signal })).items;
}

function submitForm(page, onSubmitted) {
  const file = h("input", { type: "file", name: "file", required: true,
    accept: ".csv,.jsonl,text/csv,application/x-ndjson" });
  const mode = select("mode", [["faces", "Find faces, judge each"],
    ["whole_image", "Judge the whole image"]], "faces");
  const button = h("button", { type: "submit" }, "Submit batch");
  const status = h("p", { class: "hint", role: "status" });
  const form = h("form", { class: "card", "aria-labelledby": "batch-submit-title" },
    h("h2", { id: "batch-submit-title" }, "Submit a batch"),
    h("p", { class: "hint" }, "A CSV with an image_url column, and optionally external_id and ",
      "metadata (a JSON object); or JSON Lines with the same fields."),
    h("div", { class: "row" }, field("Batch file", file), field("Mode", mode), button),
    status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!file.files.length) return;
    const body = new FormData();
    body.append("file", file.files[0], file.files[0].name);
    body.append("mode", mode.value);
    button.disabled = true;
    status.textContent = "Uploading…";
    try {
      const batch = await api("/v1/batches", { method: "POST", form: body, signal: page.signal });
      status.textContent = `Batch ${batch.id} accepted.`;
      form.reset();
      await onSubmitted();
    } catch (error) {
      if (error.name !== "AbortError") status.textContent = `Refused: ${error.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function stateText(batch) {
  if (batch.cancelled_at) return "cancelled";
  if (batch.completed_at) return "completed";
  return batch.reading ? "reading rows" : "running";
}

function batchRow(page, rows, batch, refresh) {
  const version = JSON.stringify([batch.counts, batch.reading, batch.completed_at, batch.cancelled_at,
    batch.total, batch.invalid_rows]);
  let row = rows.get(batch.id);
  if (row && row.version === version) return row.item;
  if (!row) {
    const content = h("div", { class: "batch-content" });
    row = { item: h("li", { class: "card batch", dataset: { batchId: batch.id } }, content), content };
    rows.set(batch.id, row);
  }
  row.version = version;
  const finished = (batch.counts.succeeded ?? 0) + (batch.counts.failed ?? 0);
  const labelId = `batch-${batch.id}-label`;
  const open = !batch.completed_at && !batch.cancelled_at;
  const cancel = h("button", { type: "button", class: "danger" }, "Cancel");
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api(`${batchPath(batch.id)}/cancel`, { method: "POST", signal: page.signal });
      notify(`Batch ${batch.id} cancelled: its queued jobs will not run.`);
      await refresh();
    } catch (error) {
      if (error.name !== "AbortError") notify(`Cancel failed: ${error.message}`, "error");
      cancel.disabled = false;
    }
  });
  const results = (format) => {
    const button = h("button", { type: "button", class: "quiet" }, `Results (${format.toUpperCase()})`);
    button.addEventListener("click", () =>
      download(`${batchPath(batch.id)}/results?format=${format}`, `${batch.id}.${format}`)
        .catch((error) => notify(`Download failed: ${error.message}`, "error")));
    return button;
  };
  row.content.replaceChildren(
    h("p", { id: labelId }, h("span", { class: "mono" }, batch.id), ` · ${stateText(batch)} · `,
      timeElement(batch.created_at)),
    h("progress", { max: 1, value: batch.progress, "aria-labelledby": labelId }),
    h("p", { class: "hint" }, `${finished} of ${batch.total} jobs finished`,
      ` (${batch.counts.succeeded ?? 0} succeeded, ${batch.counts.failed ?? 0} failed)`,
      batch.invalid_rows ? `; ${batch.invalid_rows} invalid rows` : "",
      batch.error ? `; ${batch.error.message}` : ""),
    h("div", { class: "row" },
      open ? cancel : null,
      results("csv"),
      results("jsonl"),
      h("a", { href: `#/jobs?batch_id=${encodeURIComponent(batch.id)}` }, "Show its jobs")));
  return row.item;
}
