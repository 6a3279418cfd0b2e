// #/jobs/<id>: the image with its face boxes, per-face scores, details, explanation,
// reviews and deletion.
import { ApiError, api, apiBlob, jobPath } from "./api.js";
import { h, notify } from "./dom.js";
import { explanationPanel } from "./explain.js";
import { TERMINAL, jobBadge, jobTitle, percent, probability, reviewBadge, verdictBadge } from "./format.js";
import { jobDetails } from "./job_details.js";
import { reviewPanel } from "./review.js";

const WAIT_S = 20;

export async function renderJob(page, jobId) {
  let job;
  try {
    job = await api(jobPath(jobId), { signal: page.signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      return h("section", {}, h("h1", {}, "Job not found"),
        h("p", {}, "No job with this ID exists for your tenant (it may have been deleted). "),
        h("p", {}, h("a", { href: "#/jobs" }, "Back to the jobs")));
    }
    throw error;
  }
  const root = h("section", { class: "job-page" });
  const draw = (current) => root.replaceChildren(...jobContent(page, current));
  draw(job);
  if (!TERMINAL.has(job.status)) waitForEnd(page, job, draw);
  return root;
}

/** Long-polls the job until it ends, then draws it again. */
async function waitForEnd(page, job, draw) {
  while (page.alive && !TERMINAL.has(job.status)) {
    try {
      job = await api(`${jobPath(job.id)}?wait=${WAIT_S}`, { signal: page.signal });
    } catch (error) {
      if (error.name === "AbortError" || !page.alive) return;
      await new Promise((resolve) => setTimeout(resolve, 2000));
      continue;
    }
    if (TERMINAL.has(job.status) && page.alive) draw(job);
  }
}

function jobContent(page, job) {
  const faces = job.result?.faces ?? [];
  const reviewSlot = h("span", {}, reviewBadge(job.review));
  const figure = imageFigure(page, job, faces);
  const explanation = job.status === "succeeded" && faces.length
    ? explanationPanel(page, job, figure) : null;
  return [
    h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
    h("h1", { class: "job-title" }, jobTitle(job)),
    h("p", { class: "badges" }, jobBadge(job), " ", reviewSlot,
      job.result ? ` P(fake) ${percent(job.result.fake_probability)}` : "",
      job.error ? h("span", { class: "error" }, ` ${job.error.code}: ${job.error.message}`) : ""),
    h("div", { class: "job-layout" },
      h("div", { class: "job-visual" }, figure.element, explanation),
      h("div", { class: "job-side" },
        facesTable(page, job, faces),
        reviewPanel(page, job, faces, (review) => reviewSlot.replaceChildren(reviewBadge(review))),
        jobDetails(job),
        deleteButton(page, job))),
  ];
}

/** The image, fetched with the key, and a box over each face in its own pixels. */
function imageFigure(page, job, faces) {
  const stage = h("div", { class: "stage" });
  const caption = h("figcaption", {}, faces.length
    ? `${faces.length} face${faces.length === 1 ? "" : "s"} found; each box is numbered as in the table.`
    : "No face boxes.");
  const element = h("figure", { class: "figure" }, stage, caption);
  const placed = [];
  // Boxes are in the upright image's pixels (of the judged size, when the service gives
  // it: a very large image is judged shrunk); the browser shows the image upright too.
  const judged = job.result?.image_size;
  let size = judged ? { width: judged[0], height: judged[1] } : null;
  const position = (node, [x0, y0, x1, y1]) => Object.assign(node.style, {
    left: `${(100 * x0) / size.width}%`,
    top: `${(100 * y0) / size.height}%`,
    width: `${(100 * (x1 - x0)) / size.width}%`,
    height: `${(100 * (y1 - y0)) / size.height}%`,
  });
  /** Lays `node` over the region `box` of the image (x0, y0, x1, y1 in its pixels). */
  const place = (node, box) => {
    stage.append(node);
    if (size) position(node, box);
    else placed.push([node, box]);
  };
  if (!job.image) {
    stage.append(h("p", { class: "hint" }, "The image is not stored (yet)."));
    return { element, place, cover: () => {} };
  }
  const img = h("img", { alt: `The image of job ${jobTitle(job)}`, class: "subject" });
  stage.append(img);
  for (const [index, face] of faces.entries()) {
    place(h("div", { class: `box verdict-${face.verdict}`, dataset: { face: index } },
      h("span", { class: "box-label" }, `${index + 1} · ${percent(face.fake_probability)}`)),
    face.box);
  }
  img.addEventListener("load", () => {
    size ??= { width: img.naturalWidth, height: img.naturalHeight };
    for (const [node, box] of placed.splice(0)) position(node, box);
    stage.classList.add("loaded");
  });
  apiBlob(`${jobPath(job.id)}/image`, { signal: page.signal }).then(({ blob }) => {
    if (page.alive) img.src = page.objectUrl(blob);
  }, (error) => {
    if (error.name !== "AbortError") caption.textContent = `The image could not be loaded: ${error.message}`;
  });
  return { element, place, cover: (node) => stage.append(node) };
}

function facesTable(page, job, faces) {
  if (!job.result) return null;
  const rows = faces.map((face, index) => {
    const crop = h("td", { class: "crop" });
    apiBlob(`${jobPath(job.id)}/image?face=${index}`, { signal: page.signal }).then(({ blob }) => {
      if (page.alive) crop.append(h("img", { src: page.objectUrl(blob), alt: `Face ${index + 1}` }));
    }, () => { /* crops are optional */ });
    return h("tr", { dataset: { face: index } },
      h("th", { scope: "row" }, String(index + 1)),
      crop,
      h("td", {}, probability(face.fake_probability)),
      h("td", {}, verdictBadge(face.verdict)),
      h("td", {}, probability(face.detection_score)),
      h("td", { class: "mono" }, face.box.join(", ")));
  });
  return h("table", { class: "faces" },
    h("caption", {}, "Faces"),
    h("thead", {}, h("tr", {},
      ["#", "Crop", "P(fake)", "Verdict", "Face score", "Box (x0, y0, x1, y1)"].map(
        (text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows.length ? rows
      : h("tr", {}, h("td", { colspan: 6 }, "No face was judged."))));
}

function deleteButton(page, job) {
  const button = h("button", { type: "button", class: "danger" }, "Delete job");
  button.addEventListener("click", async () => {
    if (!window.confirm("Delete this job, its result, its reviews and its image for good?")) return;
    button.disabled = true;
    try {
      await api(jobPath(job.id), { method: "DELETE", signal: page.signal });
      notify(`Job ${job.id} deleted.`);
      location.hash = "#/jobs";
    } catch (error) {
      if (error.name === "AbortError") return;
      notify(`Delete failed: ${error.message}`, "error");
      button.disabled = false;
    }
  });
  return h("section", { class: "danger-zone", "aria-label": "Delete" }, button);
}
