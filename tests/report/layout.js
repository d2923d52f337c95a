() => {
  // What a reader would see cut or covered, as short descriptions (empty: none).
  const problems = [];
  const name = (el) => {
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 60);
    return `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}${el.className && typeof el.className === "string" ? "." + el.className : ""} "${text}"`;
  };
  const scrolls = (el) => el.closest(".table-wrap") !== null;  // wide tables scroll sideways, by design
  const page = document.documentElement.clientWidth;
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg")) continue;
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (own && el.clientWidth > 0 && !el.classList.contains("table-wrap") && !scrolls(el) &&
        el.scrollWidth > el.clientWidth + 1) {
      problems.push(`text overflows its box: ${name(el)} (${el.scrollWidth} > ${el.clientWidth})`);
    }
    const box = el.getBoundingClientRect();
    if (box.width > 0 && !scrolls(el) && box.right > page + 1) {
      problems.push(`past the right edge of the page: ${name(el)} (${Math.round(box.right)} > ${page})`);
    }
  }
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 && a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
    Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  let legends = 0;
  document.querySelectorAll("svg").forEach((chart, k) => {
    const frame = chart.getBoundingClientRect();
    chart.querySelectorAll("text").forEach((text) => {
      const box = text.getBoundingClientRect();
      if (box.width > 0 && !inside(box, frame)) problems.push(`chart ${k}: text cut at the edge: ${name(text)}`);
    });
    chart.querySelectorAll("g.flow-box").forEach((box) => {
      const frame = box.querySelector("rect").getBoundingClientRect();
      box.querySelectorAll("text").forEach((text) => {
        if (!inside(text.getBoundingClientRect(), frame)) problems.push(`chart ${k}: text outside its box: ${name(text)}`);
      });
    });
    const plots = [...chart.querySelectorAll('g[id*="-axes_"] > g[id*="-patch_"]')].map((g) => g.getBoundingClientRect());
    chart.querySelectorAll('g[id*="-legend_"]').forEach((legend) => {
      legends += 1;
      const box = legend.getBoundingClientRect();
      if (!inside(box, frame)) problems.push(`chart ${k}: legend cut at the edge: ${name(legend)}`);
      if (plots.some((plot) => overlap(box, plot))) problems.push(`chart ${k}: legend on the plotted area: ${name(legend)}`);
    });
  });
  return {problems, legends, charts: document.querySelectorAll("svg").length};
}
