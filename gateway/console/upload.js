// Adding images: files chosen or dropped (many at once), or an image URL.
import { api } from "./api.js";
import { field, h, notify, select } from "./dom.js";

const ACCEPT = "image/jpeg,image/png,image/webp,image/gif,image/bmp";
const PARALLEL_UPLOADS = 3;

/** The upload panel; `onSubmitted(job)` runs for each job created. */
export function uploadPanel(page, onSubmitted) {
  const fileInput = h("input", {
    type: "file", name: "files", multiple: true, accept: ACCEPT, class: "visually-hidden",
  });
  const chooser = h("label", { class: "button" }, "Choose images…", fileInput);
  const modelSelect = select("model", [["", "Default model"]], "");
  const urlInput = h("input", {
    type: "url", name: "image_url", required: true, placeholder: "https://…", inputmode: "url",
  });
  const progress = h("ul", { class: "uploads", "aria-live": "polite", "aria-label": "Uploads" });
  const urlForm = h("form", { class: "row" },
    field("Image URL", urlInput), h("button", { type: "submit" }, "Submit URL"));
  const zone = h("section", { class: "dropzone", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Add images"),
    h("div", { class: "row" }, chooser,
      h("span", { class: "hint" }, "or drop image files anywhere in this box"),
      field("Model for new jobs", modelSelect)),
    urlForm,
    progress);

  const options = () => (modelSelect.value ? { model: modelSelect.value } : {});

  async function submitFile(file) {
    const line = h("li", {}, h("span", { class: "name" }, file.name), " ",
      h("span", { class: "state" }, "uploading…"));
    progress.prepend(line);
    const form = new FormData();
    form.append("file", file, file.name);
    // The file's name, for reviewers: the gallery titles a job with it.
    form.append("metadata", JSON.stringify({ file_name: file.name }));
    for (const [name, value] of Object.entries(options())) form.append(name, value);
    try {
      const job = await api("/v1/jobs", { method: "POST", form, signal: page.signal });
      line.querySelector(".state").textContent = "queued";
      line.dataset.jobId = job.id;
      onSubmitted(job);
    } catch (error) {
      if (error.name === "AbortError") return;
      line.classList.add("failed");
      line.querySelector(".state").textContent = `refused: ${error.message}`;
    }
  }

  async function submitFiles(files) {
    const queue = [...files];
    const workers = Array.from({ length: Math.min(PARALLEL_UPLOADS, queue.length) }, async () => {
      while (queue.length && page.alive) await submitFile(queue.shift());
    });
    await Promise.all(workers);
  }

  fileInput.addEventListener("change", () => {
    submitFiles(fileInput.files).finally(() => { fileInput.value = ""; });
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    const files = [...(event.dataTransfer?.files ?? [])];
    if (files.length) submitFiles(files);
    else notify("Only files can be dropped here; paste a link into Image URL.", "error");
  });
  urlForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const url = urlInput.value.trim();
    const line = h("li", {}, h("span", { class: "name" }, url), " ",
      h("span", { class: "state" }, "submitting…"));
    progress.prepend(line);
    try {
      const job = await api("/v1/jobs", {
        method: "POST", json: { image_url: url, ...options() }, signal: page.signal,
      });
      line.querySelector(".state").textContent = "queued";
      urlInput.value = "";
      onSubmitted(job);
    } catch (error) {
      if (error.name === "AbortError") return;
      line.classList.add("failed");
      line.querySelector(".state").textContent = `refused: ${error.message}`;
    }
  });

  api("/v1/models", { signal: page.signal }).then((models) => {
    for (const model of models) {
      modelSelect.append(h("option", { value: model.name },
        model.default ? `${model.name} (default)` : model.name));
    }
  }, () => { /* the default model still works */ });
  return zone;
}
