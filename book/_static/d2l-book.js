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

// Search results: under each link Sphinx shows a piece of the page's text, read from the
// page's HTML, where the maths is still TeX (MathJax typesets it only in the page itself).
// Show the maths as plain text instead (\mathbf{v} \leftarrow \beta\mathbf{v} reads
// v ← βv), and leave out the page's tables of contents and its bar of links.
const TEX_WORDS = {
  alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", zeta: "ζ",
  eta: "η", theta: "θ", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", xi: "ξ", pi: "π",
  rho: "ρ", sigma: "σ", tau: "τ", phi: "φ", varphi: "φ", chi: "χ", psi: "ψ", omega: "ω",
  Gamma: "Γ", Delta: "Δ", Theta: "Θ", Lambda: "Λ", Sigma: "Σ", Phi: "Φ", Psi: "Ψ",
  Omega: "Ω", leftarrow: "←", gets: "←", rightarrow: "→", to: "→", Rightarrow: "⇒",
  leq: "≤", le: "≤", geq: "≥", ge: "≥", neq: "≠", ne: "≠", approx: "≈", sim: "∼",
  propto: "∝", cdot: "·", times: "×", odot: "⊙", circ: "∘", pm: "±", infty: "∞",
  nabla: "∇", partial: "∂", sum: "∑", prod: "∏", int: "∫", in: "∈", ldots: "…",
  cdots: "⋯", dots: "…", top: "⊤", mid: "|", lVert: "‖", rVert: "‖", Vert: "‖",
  langle: "⟨", rangle: "⟩", quad: " ", qquad: " ", ell: "ℓ", lim: "lim", log: "log", exp: "exp",
};
const TEX_ACCENTS = { hat: "\u0302", widehat: "\u0302", tilde: "\u0303", bar: "\u0304" };

function texToText(tex) {
  let text = tex
    .trim()
    .replace(/^(\\\(|\\\[|\$\$?)|(\\\)|\\\]|\$\$?)$/g, "")
    .replace(/\\\|/g, "‖")
    .replace(/\\([A-Za-z]+)/g, (m, word) => TEX_WORDS[word] ?? m);
  let before;
  do {  // innermost groups first: \mathbf{\hat{v}}
    before = text;
    text = text
      .replace(/\\(?:begin|end)\{[^{}]*\}/g, " ")
      .replace(/\\(?:math\w*|boldsymbol|bm|text\w*|operatorname|mbox)\s*\{([^{}]*)\}/g, "$1")
      .replace(/\\(hat|widehat|tilde|bar)\s*\{([^{}]*)\}/g, (m, a, x) => x + TEX_ACCENTS[a])
      .replace(/\\frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}/g, "($1)/($2)")
      .replace(/\\sqrt\s*\{([^{}]*)\}/g, "√($1)");
  } while (text !== before);
  return text
    .replace(/\\(?:left|right|big|Big|bigg|Bigg)\b/g, "")
    .replace(/\\[,;:! ]|\\\\|&/g, " ")
    .replace(/\\([A-Za-z]+)/g, "$1")
    .replace(/\\(.)/g, "$1")
    .replace(/[{}]/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || !Search.htmlToText) return;  // not the search page
  const pageText = Search.htmlToText;
  Search.htmlToText = (htmlString, anchor) => {
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    const around = ".bd-sidebar-secondary, .bd-header-article, .onlyprint, .d2l-book-links";
    page.querySelectorAll(around).forEach((e) => e.remove());  // tables of contents, links
    page.querySelectorAll(".math").forEach((m) => { m.textContent = ` ${texToText(m.textContent)} `; });
    return pageText(page.documentElement.outerHTML, anchor);
  };
});
