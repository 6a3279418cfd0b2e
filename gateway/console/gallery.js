// #/jobs: upload, the live gallery of recent jobs, filters and search, review export.
import { ApiError, api, apiBlob, download, jobPath, query } from "./api.js";
import { field, h, notify, select } from "./dom.js";
import { jobBadge, jobTitle, percent, reviewBadge, timeElement } from "./format.js";
import { uploadPanel } from "./upload.js";

const PAGE = 48;
const MAX_LIMIT = 200;
const REFRESH_MS = 2000;
const FILTERS = ["status", "verdict", "model", "reviewed", "q", "created_after", "batch_id"];

export async function renderGallery(page, params) {
  const state = Object.fromEntries(FILTERS.map((name) => [name, params.get(name) ?? ""]));
  let limit = PAGE;
  const cards = new Map();
  const list = h("ul", { class: "gallery", "aria-label": "Jobs, newest first" });
  const summary = h("p", { class: "hint", "aria-live": "polite" });
  const more = h("button", { type: "button", class: "quiet", hidden: true }, "Show more");
  const thumbs = thumbnailLoader(page);

  async function refresh() {
    let jobs;
    let next = null;
    try {
      ({ jobs, next } = await fetchJobs(state, limit, page.signal));
    } catch (error) {
      if (error.name === "AbortError") return;
      summary.textContent = `Could not load jobs: ${error.message}`;
      return;
    }
    if (!page.alive) return;
    const ordered = jobs.map((job) => card(cards, job, thumbs));
    const shown = [...list.children];
    if (ordered.length !== shown.length || ordered.some((node, i) => node !== shown[i])) {
      list.replaceChildren(...ordered);
    }
    for (const id of cards.keys()) if (!jobs.some((job) => job.id === id)) cards.delete(id);
    summary.textContent = jobs.length
      ? `${jobs.length} job${jobs.length === 1 ? "" : "s"}${next ? " (more exist)" : ""}; updates live.`
      : "No jobs match.";
    more.hidden = !next || limit >= MAX_LIMIT;
  }

  const filters = filterForm(state, () => {
    const search = new URLSearchParams(Object.entries(state).filter(([, value]) => value));
    history.replaceState(null, "", `#/jobs${search.size ? `?${search}` : ""}`);
    limit = PAGE;
    refresh();
  });
  more.addEventListener("click", () => {
    limit = Math.min(MAX_LIMIT, limit + PAGE);
    refresh();
  });

  await refresh();
  page.every(REFRESH_MS, refresh);
  return h("section", { class: "gallery-page" },
    h("h1", {}, "Jobs"),
    uploadPanel(page, () => refresh()),
    filters,
    exportPanel(),
    summary,
    list,
    more);
}

async function fetchJobs(state, limit, signal) {
  const search = state.q.trim();
  if (/^job_[A-Za-z0-9_-]+$/.test(search)) {
    try {
      return { jobs: [await api(jobPath(search), { signal })], next: null };
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return { jobs: [], next: null };
      throw error;
    }
  }
  const [key, ...rest] = search.split("=");
  const byMetadata = rest.length > 0 && key.trim() !== "";
  const page = await api(`/v1/jobs${query({
    limit,
    status: state.status,
    verdict: state.verdict,
    model: state.model.trim(),
    reviewed: state.reviewed,
    batch_id: state.batch_id,
    created_after: state.created_after ? new Date(state.created_after).toISOString() : "",
    external_id: byMetadata ? "" : search,
    metadata_key: byMetadata ? key.trim() : "",
    metadata_value: byMetadata ? rest.join("=").trim() : "",
  })}`, { signal });
  return { jobs: page.items, next: page.next_cursor };
}

function card(cards, job, thumbs) {
  let entry = cards.get(job.id);
  const version = `${job.updated_at}|${job.review_count ?? 0}`;
  if (entry && entry.version === version) return entry.item;
  if (!entry) {
    const link = h("a", { href: `#/jobs/${encodeURIComponent(job.id)}`, class: "job-link" });
    const item = h("li", { class: "job-card", dataset: { jobId: job.id } }, link);
    entry = { item, link, thumb: h("div", { class: "thumb", "aria-hidden": "true" }) };
    cards.set(job.id, entry);
  }
  entry.version = version;
  if (job.image) thumbs.watch(entry.thumb, job.id);
  // Updated in place: a focused link keeps its focus while the gallery refreshes.
  entry.link.replaceChildren(
    entry.thumb,
    h("span", { class: "title" }, jobTitle(job)),
    h("span", { class: "badges" }, jobBadge(job), reviewBadge(job.review)),
    h("span", { class: "meta" },
      job.result?.fake_probability != null ? `P(fake) ${percent(job.result.fake_probability)} · ` : "",
      timeElement(job.created_at)));
  return entry.item;
}

/** Loads each job's image once it scrolls into view, with the key, as a blob: URL. */
function thumbnailLoader(page) {
  const pending = new Map();
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      const jobId = pending.get(entry.target);
      pending.delete(entry.target);
      apiBlob(`${jobPath(jobId)}/image`, { signal: page.signal }).then(({ blob }) => {
        if (!page.alive) return;
        entry.target.replaceChildren(h("img", { src: page.objectUrl(blob), alt: "" }));
      }, () => { /* no image to show (yet): the card shows none */ });
    }
  }, { rootMargin: "200px" });
  page.onDispose(() => observer.disconnect());
  return {
    watch(target, jobId) {
      if (target.dataset.loading) return;
      target.dataset.loading = "1";
      pending.set(target, jobId);
      observer.observe(target);
    },
  };
}

function filterForm(state, onChange) {
  const controls = {
    status: select("status", [["", "Any status"], ["queued", "Queued"], ["fetching", "Fetching"],
      ["inferring", "Inferring"], ["succeeded", "Succeeded"], ["failed", "Failed"]], state.status),
    verdict: select("verdict", [["", "Any verdict"], ["fake", "Fake"], ["real", "Real"],
      ["uncertain", "Uncertain"], ["no_face", "No face"]], state.verdict),
    reviewed: select("reviewed", [["", "Reviewed or not"], ["true", "Reviewed"],
      ["false", "Not reviewed"]], state.reviewed),
    model: h("input", { type: "text", name: "model", value: state.model, placeholder: "any" }),
    created_after: h("input", { type: "datetime-local", name: "created_after",
      value: state.created_after }),
    q: h("input", { type: "search", name: "q", value: state.q,
      placeholder: "external ID, job_… or key=value" }),
  };
  const form = h("form", { class: "filters", role: "search", "aria-label": "Filter jobs" },
    field("Status", controls.status),
    field("Verdict", controls.verdict),
    field("Reviewed", controls.reviewed),
    field("Model", controls.model),
    field("Created after", controls.created_after),
    field("Search", controls.q),
    h("button", { type: "submit" }, "Apply"),
    state.batch_id ? h("button", { type: "button", class: "quiet", onclick: () => {
      state.batch_id = "";
      form.querySelector(".batch-filter")?.remove();
      onChange();
    } }, "Clear batch filter") : null,
    state.batch_id ? h("span", { class: "hint batch-filter" }, `Batch ${state.batch_id}`) : null);
  const apply = () => {
    for (const [name, control] of Object.entries(controls)) state[name] = control.value;
    onChange();
  };
  for (const name of ["status", "verdict", "reviewed"]) controls[name].addEventListener("change", apply);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply();
  });
  return form;
}

function exportPanel() {
  const format = select("format", [["jsonl", "JSON Lines"], ["csv", "CSV"],
    ["zip", "ZIP with images"]], "jsonl");
  const button = h("button", { type: "submit" }, "Export reviews");
  const form = h("form", { class: "row export", "aria-label": "Export the labelled set" },
    field("Review export format", format), button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await download(`/v1/reviews/export${query({ format: format.value })}`,
        `reviews.${format.value}`);
    } catch (error) {
      notify(`Export failed: ${error.message}`, "error");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
