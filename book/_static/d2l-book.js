// Sliders over precomputed frames (tools/book_explore.py): moving the range input shows
// the figure and the printed text drawn for that value when the book was built.
document.addEventListener("DOMContentLoaded", () => {
  for (const box of document.querySelectorAll(".d2l-frames")) {
    const frames = JSON.parse(box.querySelector(".d2l-frames-data").textContent);
    const input = box.querySelector("input[type=range]");
    const readout = box.querySelector("output");
    const image = box.querySelector(".d2l-frames-image");
    const text = box.querySelector(".d2l-frames-text");
    const label = input.getAttribute("aria-label");
    const show = () => {
      const frame = frames[Number(input.value)];
      readout.textContent = frame.value;
      image.src = frame.image;
      image.alt = `the figure at ${label} = ${frame.value}`;
      text.textContent = frame.text;
    };
    input.addEventListener("input", show);
    show();
  }
});
