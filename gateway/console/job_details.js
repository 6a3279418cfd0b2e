// What produced a job's scores and what is known of its image: model, thresholds,
// provenance, metadata, times. Every value is shown as text.
import { h } from "./dom.js";
import { jsonText, modelName, probability, when } from "./format.js";

function pairs(rows) {
  return h("dl", { class: "pairs" }, rows.filter(([, value]) => value !== null && value !== undefined
    && value !== "").map(([term, value]) => [h("dt", {}, term),
    h("dd", {}, value instanceof Node ? value : String(value))]));
}

export function jobDetails(job) {
  const result = job.result;
  const thresholds = job.thresholds;
  const image = job.image;
  return h("section", { class: "details", "aria-labelledby": "details-title" },
    h("h2", { id: "details-title" }, "How it was judged"),
    pairs([
      ["Model", modelName(job)],
      ["Face detector", result?.face_detector ?? (job.mode === "faces" ? "–" : "not used")],
      ["Mode", job.mode],
      ["Thresholds", thresholds
        ? `fake at or above ${probability(thresholds.fake)}; real below ${probability(thresholds.real)}; uncertain between`
        : "the service's defaults"],
      ["Reused from", result?.reused_from],
    ]),
    provenance(result?.provenance ?? job.provenance),
    h("h2", {}, "The job"),
    pairs([
      ["Job ID", h("span", { class: "mono" }, job.id)],
      ["External ID", job.external_id],
      ["Batch", job.batch_id ? h("a", { href: `#/jobs?batch_id=${encodeURIComponent(job.batch_id)}` },
        job.batch_id) : null],
      ["Status", job.status],
      ["Source", job.source],
      ["Image URL", job.image_url ? h("span", { class: "mono wrap" }, job.image_url) : null],
      ["SHA-256", image ? h("span", { class: "mono wrap" }, image.sha256) : null],
      ["Size", image ? `${image.size_bytes.toLocaleString()} bytes, ${image.content_type ?? "unknown type"}` : null],
      ["Created", when(job.created_at)],
      ["Updated", when(job.updated_at)],
      ...Object.entries(job.timestamps ?? {}).map(([status, at]) => [`Entered ${status}`, when(at)]),
    ]),
    Object.keys(job.metadata ?? {}).length
      ? h("details", { class: "metadata" }, h("summary", {}, "Metadata"), jsonText(job.metadata))
      : null);
}

/** Content credentials, camera metadata and hints, as far as the service read them. */
function provenance(found) {
  const body = found
    ? [
      pairs([
        ["Content credentials (C2PA)", summary(found.c2pa, "none found")],
        ["Camera metadata (EXIF)", summary(found.exif, "none found")],
      ]),
      Array.isArray(found.hints) && found.hints.length
        ? h("ul", { class: "hints" }, found.hints.map((hint) =>
          h("li", {}, typeof hint === "string" ? hint : JSON.stringify(hint))))
        : null,
      h("details", {}, h("summary", {}, "Everything recorded"), jsonText(found)),
    ]
    : [h("p", { class: "hint" }, "No provenance was recorded for this job.")];
  return h("section", { class: "provenance", "aria-labelledby": "provenance-title" },
    h("h2", { id: "provenance-title" }, "Provenance"), ...body);
}

function summary(value, empty) {
  if (value === null || value === undefined) return empty;
  if (typeof value !== "object") return String(value);
  const entries = Object.entries(value).filter(([, item]) => item !== null && item !== "");
  if (!entries.length) return empty;
  return h("ul", { class: "compact" }, entries.slice(0, 12).map(([key, item]) =>
    h("li", {}, `${key}: ${typeof item === "object" ? JSON.stringify(item) : item}`)));
}
