// The catalogue test's walk of a page (tests/e2e/web/test_i18n_browser.py), run in the page with the catalogues'
// texts and the names of the placeholders that stand for figures. Every text node (hidden ones too: they show later)
// and the attributes a reader meets, outside scripts and data (elements marked data-user-content: names, messages,
// FAQ texts; within them, data-page-words marks the page's own words again), must be: without a letter (figures,
// times, symbols), a date as Intl writes it in the page's language, a catalogue text, or a catalogue template filled
// in; a text built around a name passes when an element up to three levels up reads, as a whole, as a catalogue
// template. Returns what fails, as "where: text".
([values, figureNames]) => {
  const norm = (s) => s.replace(/\s+/g, " ").trim();
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const exact = new Set(values.map(norm));
  const templates = values.filter((v) => /\{\w+\}/.test(v) && /\p{L}/u.test(v.replace(/\{\w+\}/g, "")))
    .map((v) => {
      const pieces = norm(v).split(/(\{\w+\})/);
      const names = pieces.filter((p) => /^\{\w+\}$/.test(p)).map((p) => p.slice(1, -1));
      const regex = new RegExp("^" + pieces.map((p) => (/^\{\w+\}$/.test(p) ? "([\\s\\S]+?)" : esc(p))).join("") + "$", "u");
      return { regex, figureAt: names.map((n) => figureNames.includes(n)) };
    });
  // Dates are Intl's, in the page's language: the words of its date formats (month names, 年月日) count as figures.
  const dateWords = new Set();
  for (const options of [{ dateStyle: "medium", timeStyle: "short", hourCycle: "h23" }, { dateStyle: "medium" }]) {
    for (let month = 0; month < 12; month += 1) {
      const format = new Intl.DateTimeFormat(document.documentElement.lang, options);
      for (const part of format.formatToParts(new Date(2026, month, 15, 13, 5))) {
        if (/\p{L}/u.test(part.value)) dateWords.add(part.value.trim());
      }
    }
  }
  const figures = (s) => /\d/.test(s) && ![...dateWords].reduce((rest, w) => rest.split(w).join(" "), s).match(/\p{L}/u);
  const known = (s) => {
    s = norm(s);
    return !/\p{L}/u.test(s) || figures(s) || exact.has(s) || templates.some(({ regex, figureAt }) => {
      const m = regex.exec(s);
      return m !== null && figureAt.every((figure, i) => !figure || !/\p{L}/u.test(m[i + 1]) || figures(m[i + 1]));
    });
  };
  const skipped = (el) => {
    if (el.closest("script, style, noscript, template")) return true;
    const data = el.closest("[data-user-content]");
    const words = el.closest("[data-page-words]"); // the page's own words inside data (an order card's "Total")
    return data !== null && !(words !== null && data.contains(words));
  };
  const where = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.dataset && el.dataset.testid ? "[" + el.dataset.testid + "]" : "");
  const found = [];
  if (!known(document.title)) found.push("title: " + document.title);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!el || skipped(el) || known(node.data)) continue;
    let up = el;
    let whole = false;
    for (let i = 0; i < 3 && up && up !== document.body && !whole; i += 1, up = up.parentElement) {
      whole = known(up.textContent);
    }
    if (!whole) found.push(where(el) + ": " + norm(node.data));
  }
  for (const el of document.body.querySelectorAll("*")) {
    if (skipped(el)) continue;
    for (const attr of ["placeholder", "aria-label", "title", "alt"]) {
      const value = el.getAttribute(attr);
      if (value !== null && !known(value)) found.push(where(el) + " @" + attr + ": " + value);
    }
    if (el.matches("input[type=button], input[type=submit], input[type=reset]") && !known(el.value)) {
      found.push(where(el) + " @value: " + el.value);
    }
  }
  return found;
}
