// Explorers without a kernel (tools/book_explore.py): every frame of an explorer was drawn
// by the chapter's own code when the book was built. Moving a control shows the frame of
// the controls' new values: its figures (SVG, rebuilt from runs of shared lines) and the
// text it printed. The frames arrive gzipped and base64-encoded in the page; nothing is
// loaded from anywhere.
"use strict";

async function d2lInflate(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return JSON.parse(await new Response(stream).text());
}

async function d2lExplorer(box) {
  const data = await d2lInflate(box.querySelector(".d2l-explore-data").textContent);
  const inputs = Array.from(box.querySelectorAll(".d2l-explore-controls > label")).map(
    (label) => label.querySelector("input, select:not([disabled])"),
  );
  const images = Array.from(box.querySelectorAll(".d2l-explore-figure"));
  const text = box.querySelector(".d2l-explore-text");
  const urls = [];
  let shown = Number(box.dataset.frame);
  const frameIndex = () =>
    inputs.reduce((index, input, i) => index * data.sizes[i] + (input ? Number(input.value) : 0), 0);
  const show = () => {
    inputs.forEach((input, i) => {
      const readout = input && input.parentElement.querySelector("output");
      if (readout) readout.textContent = data.readouts[i][Number(input.value)];
    });
    const index = frameIndex();
    if (index === shown) return;
    shown = index;
    const [figures, textIndex] = data.frames[index];
    figures.forEach((runs, i) => {
      const lines = [];
      for (let r = 0; r < runs.length; r += 2) {
        for (let k = runs[r]; k < runs[r] + runs[r + 1]; k++) lines.push(data.lines[k]);
      }
      if (urls[i]) URL.revokeObjectURL(urls[i]);
      urls[i] = URL.createObjectURL(new Blob([lines.join("\n")], { type: "image/svg+xml" }));
      images[i].src = urls[i];
    });
    text.textContent = data.texts[textIndex];
    box.dataset.frame = String(index);
  };
  for (const input of inputs) if (input) input.addEventListener("input", show);
  box.classList.add("d2l-explore-live");
}

document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll(".d2l-explore")) {
    d2lExplorer(box).catch((error) => console.error("d2l-explore:", error));
  }
});
