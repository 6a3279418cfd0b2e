// "What a score means": static text kept in index.html's <template>, cloned as it is.

export function renderAbout() {
  const template = document.getElementById("about-page");
  return template.content.cloneNode(true).firstElementChild;
}
