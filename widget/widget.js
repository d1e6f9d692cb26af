// The feedback widget's loader: what every page view downloads. It listens for Ctrl+Enter
// (Cmd+Enter on a Mac) and, on touch screens or with data-button="selection", for a
// selection, and shows the hint line when asked. Everything else (the dialog, the button
// beside a selection, finding the exact spot of the quote, sending) lives in dialog.js,
// which the service serves one language at a time and this loader imports when the reader
// first acts.
//
// The service fills in __VERSION__ (of the dialog bundles and hint texts) and __LANGS__ (the
// languages it has) and serves it compacted (feedback/widget.py); tests/test_widget_serving.py
// holds the served bytes to 2 KB gzipped, so every byte here counts: the hint's text comes
// in its own small file, one language at a time, only to pages that ask for the hint.
(() => {
  "use strict";
  const W = window;
  const D = document;
  const SCRIPT = D.currentScript;
  const warn = (...a) => console.warn("[feedback]", ...a);
  const LANGS = __LANGS__;

  let cfg;
  let dialog;

  const ready = (fn) => (D.body ? fn() : D.addEventListener("DOMContentLoaded", fn));

  // The selection, unless it is empty or inside the widget's own elements.
  function selected() {
    const sel = D.getSelection();
    const range = sel && sel.rangeCount && !sel.isCollapsed && sel.getRangeAt(0);
    for (let n = range && range.commonAncestorContainer; n; n = n.parentNode)
      if (/^FEEDBACK-/.test(n.nodeName)) return null;
    return range ? range.cloneRange() : null;
  }

  // The dialog module, imported once; a failure is told and retried on the next use.
  const load = () =>
    (dialog =
      dialog ||
      import(`${cfg.origin}/widget/dialog.${cfg.lang}.js?v=__VERSION__`).then(
        (m) => m.default(cfg, selected),
        (e) => {
          dialog = null;
          warn("could not load the dialog", e);
        },
      ));

  const show = (range) => load().then((d) => d && d.open(range));

  function onKey(e) {
    if (cfg.keys && cfg.keys(e)) return;
    if (
      !(e.ctrlKey || e.metaKey) ||
      !(e.key === "Enter" || e.keyCode === 13 || e.keyCode === 10) ||
      e.repeat ||
      e.isComposing
    )
      return;
    const t = e.composedPath()[0];
    if (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)) return;
    e.preventDefault();
    show(selected());
  }

  async function showHint() {
    let box;
    try {
      box = cfg.container && D.querySelector(cfg.container);
    } catch (e) {
      warn("bad data-container", cfg.container);
    }
    box = box || D.querySelector("article") || D.querySelector("main") || D.body;
    const [typo, hint] = await (await fetch(`${cfg.origin}/widget/hint.${cfg.lang}.json?v=__VERSION__`)).json();
    // Phones have no keys to press: name the button that appears beside a selection.
    const k = cfg.coarse
      ? `"${typo}"`
      : /Mac|iP(hone|ad|od)/.test(navigator.platform)
        ? "⌘+Enter"
        : "Ctrl+Enter";
    const host = D.createElement("feedback-hint");
    const root = host.attachShadow({ mode: "open" });
    const css =
      ":host{all:initial!important;display:block!important;font:inherit!important;color:inherit!important}p{margin:1.5em 0 0;font-size:.85em;opacity:.75}";
    // A constructed stylesheet needs no style-src allowance from the page's CSP.
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
    root.append(Object.assign(D.createElement("p"), { textContent: hint.replace("{k}", k) }));
    box.append(host);
  }

  function boot() {
    if (!SCRIPT || !SCRIPT.src) return;
    if (W.Feedback && W.Feedback.version) return warn("loaded twice");
    const data = SCRIPT.dataset;
    const lang =
      [data.lang, D.documentElement.lang, navigator.language]
        .map((c) => (c || "").toLowerCase().split(/[-_]/)[0])
        .find((c) => LANGS.includes(c)) || "en";
    cfg = {
      origin: new URL(SCRIPT.src).origin,
      site: data.site || "",
      lang,
      container: data.container || "",
      accent: data.accent || "",
      coarse: W.matchMedia && matchMedia("(pointer:coarse)").matches,
    };
    if (!cfg.site) return warn("data-site is missing");
    const queued = (W.Feedback && W.Feedback.q) || [];
    W.Feedback = {
      version: 2,
      open: (o) => ready(() => show(o && o.kind === "comment" ? null : selected())),
    };
    W.addEventListener("keydown", onKey, true);
    // The button beside a selection comes with the dialog, from the first selection on.
    if (cfg.coarse || data.button === "selection")
      D.addEventListener("selectionchange", () =>
        ready(() => (dialog || selected()) && load().then((d) => d && d.tap())),
      );
    if (data.hint !== undefined) ready(() => showHint().catch((e) => warn("no hint", e)));
    queued.forEach((o) => W.Feedback.open(o));
  }

  boot();
})();
