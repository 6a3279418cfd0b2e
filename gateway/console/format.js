// How jobs, scores and times read on screen.
import { h } from "./dom.js";

export const TERMINAL = new Set(["succeeded", "failed"]);

const VERDICT_TEXT = {
  fake: "Fake",
  real: "Real",
  uncertain: "Uncertain",
  no_face: "No face",
};

/** The badge of a job: its verdict once judged, else its status. */
export function jobBadge(job) {
  if (job.status === "succeeded" && job.result) return verdictBadge(job.result.verdict);
  const text = job.status === "failed" ? "Failed" : `${capitalise(job.status)}…`;
  return h("span", { class: `badge status-${job.status}`, dataset: { status: job.status } }, text);
}

export function verdictBadge(verdict) {
  return h("span", { class: `badge verdict-${verdict}`, dataset: { verdict } },
    VERDICT_TEXT[verdict] ?? verdict);
}

export function reviewBadge(review) {
  if (!review) return null;
  return h("span", { class: `badge review review-${review.label}`, dataset: { review: review.label } },
    `Reviewed: ${review.label}`);
}

export function probability(value) {
  return typeof value === "number" ? value.toFixed(3) : "–";
}

export function percent(value) {
  return typeof value === "number" ? `${Math.round(value * 100)} %` : "–";
}

export function when(iso) {
  if (!iso) return "–";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function timeElement(iso) {
  return h("time", { datetime: iso ?? "" }, when(iso));
}

/** What names a job for a person: its external ID, a metadata value, or its ID. */
export function jobTitle(job) {
  if (job.external_id) return String(job.external_id);
  if (typeof job.metadata?.file_name === "string") return job.metadata.file_name;
  const first = Object.entries(job.metadata ?? {}).find(([, value]) => typeof value === "string");
  if (first) return `${first[0]}: ${first[1]}`;
  return job.id;
}

export function modelName(job) {
  const result = job.result;
  if (result) return `${result.model_name} v${result.model_version}`;
  if (job.model) return job.model.version ? `${job.model.name} v${job.model.version}` : job.model.name;
  return "default model";
}

export function capitalise(text) {
  return text ? text[0].toUpperCase() + text.slice(1) : text;
}

/** Any JSON value as indented text (never as markup). */
export function jsonText(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}
