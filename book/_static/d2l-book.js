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
