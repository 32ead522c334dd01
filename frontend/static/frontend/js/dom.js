// Tiny DOM helpers. User text only ever goes in as text nodes (never innerHTML).

export const $ = (id) => document.getElementById(id);

/** What the view handed the page's script through `json_script` (the #page-data element). */
export function pageData() {
  return JSON.parse($("page-data").textContent);
}

/** `el("li", {class: "x", dataset: {i: 1}, onclick: f}, "text", child)` */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** `svg("line", {x1: 0, ...}, child)`: an SVG element, for the dashboard's hand-drawn charts. */
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.append(...children);
  return node;
}

export function replaceChildren(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** Show a message in the page's notice bar; kind is "info", "ok" or "error". */
export function notify(message, kind = "info") {
  const bar = $("notice");
  if (!bar) return;
  bar.textContent = message;
  bar.className = `notice notice-${kind}`;
  // A popover sits in the top layer: re-showing it puts it above any open modal dialog.
  if (bar.matches(":popover-open")) bar.hidePopover();
  bar.showPopover();
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => bar.hidePopover(), kind === "error" ? 7000 : 3500);
}

export function isTyping(target) {
  return target instanceof HTMLElement && target.matches("input, textarea, select");
}

/** Show `url` in #image (hidden when there is none); a click zooms it in #zoom-dialog. */
export function showImage(url) {
  const image = $("image");
  // Small images (e.g. the shapes world's model-sized renders) are upscaled with
  // sharp pixels; large photos keep smooth scaling.
  image.onload = () => image.classList.toggle("pixelated", image.naturalWidth < 128);
  if (url) image.src = url;
  else image.removeAttribute("src");
  image.hidden = !url;
}

export function wireImageZoom() {
  const zoom = $("zoom-dialog");
  $("image-frame").addEventListener("click", () => {
    const image = $("image");
    if (!image.getAttribute("src")) return;
    $("zoom-image").src = image.src;
    zoom.showModal();
  });
  zoom.addEventListener("click", () => zoom.close());
}
