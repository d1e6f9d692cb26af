// The feedback widget: a reader selects a mistake, presses Ctrl+Enter (Cmd+Enter on a Mac)
// and sends a correction. One IIFE, no dependencies, nothing runs until the reader acts.
//
// The service serves it compacted by compact_js in feedback/assets.py (comments and spaces
// go, nothing is renamed), and tests/test_widget_serving.py holds the served bytes to
// 6 KB gzipped, all languages included: every byte here is weighed against that budget.
(() => {
  "use strict";
  const W = window;
  const D = document;
  const SCRIPT = D.currentScript;
  const TAG = "[feedback]";
  // The server's limit on quote.exact, in code points after whitespace is collapsed.
  const MAX_QUOTE = 300;
  const CONTEXT = 64;

  // One line per language, fields separated by "|" in the order of KEYS: a plain string
  // compresses far better than an object literal per language, and the size budget is tight.
  const KEYS = "typo page fix note send close retry wait thanks fail rate long hint".split(" ");
  const LANGS = {
    en: "Report a typo|Comment on this page|Correct text|Comment (optional)|Send|Close|Try again|Sending…|Thank you! Your report was sent.|Sending failed. Please try again.|Too many reports. Try again in {n} min.|Please select a shorter passage.|Spotted a mistake? Select it and press {k}",
    ru: "Сообщить об ошибке|Комментарий к странице|Исправленный текст|Комментарий (необязательно)|Отправить|Закрыть|Повторить|Отправка…|Спасибо! Сообщение отправлено.|Не удалось отправить. Попробуйте ещё раз.|Слишком много сообщений. Попробуйте через {n} мин..|Пожалуйста, выделите фрагмент покороче.|Нашли ошибку? Выделите её и нажмите {k}",
    uk: "Повідомити про помилку|Коментар до сторінки|Виправлений текст|Коментар (необов’язково)|Надіслати|Закрити|Повторити|Надсилання…|Дякуємо! Повідомлення надіслано.|Не вдалося надіслати. Спробуйте ще раз.|Забагато повідомлень. Спробуйте через {n} хв.|Будь ласка, виділіть коротший фрагмент.|Знайшли помилку? Виділіть її та натисніть {k}",
    de: "Fehler melden|Kommentar zu dieser Seite|Korrekter Text|Kommentar (optional)|Senden|Schließen|Erneut versuchen|Wird gesendet…|Danke! Ihre Meldung wurde gesendet.|Senden fehlgeschlagen. Bitte erneut versuchen.|Zu viele Meldungen. Bitte in {n} Min. erneut versuchen.|Bitte markieren Sie einen kürzeren Abschnitt.|Fehler entdeckt? Markieren und {k} drücken",
    fr: "Signaler une erreur|Commenter cette page|Texte corrigé|Commentaire (facultatif)|Envoyer|Fermer|Réessayer|Envoi…|Merci ! Votre signalement a été envoyé.|L’envoi a échoué. Veuillez réessayer.|Trop de signalements. Réessayez dans {n} min.|Veuillez sélectionner un passage plus court.|Une erreur ? Sélectionnez-la et appuyez sur {k}",
    es: "Informar de un error|Comentar esta página|Texto correcto|Comentario (opcional)|Enviar|Cerrar|Reintentar|Enviando…|¡Gracias! Su aviso se ha enviado.|No se pudo enviar. Inténtelo de nuevo.|Demasiados avisos. Inténtelo en {n} min.|Seleccione un fragmento más corto.|¿Ha visto un error? Selecciónelo y pulse {k}",
    pt: "Reportar um erro|Comentar esta página|Texto correto|Comentário (opcional)|Enviar|Fechar|Tentar novamente|Enviando…|Obrigado! Seu relato foi enviado.|Não foi possível enviar. Tente novamente.|Relatos demais. Tente novamente em {n} min.|Selecione um trecho mais curto.|Encontrou um erro? Selecione-o e pressione {k}",
  };

  const BASE = ":host{all:initial!important;";
  const FONT = "font:15px/1.45 system-ui,sans-serif;";
  const DIALOG_CSS = `${BASE}position:fixed!important;inset:0!important;z-index:2147483647!important;display:block!important;--a:#0b57d0}
*{box-sizing:border-box}
.o{position:fixed;inset:0;display:grid;place-items:center;padding:12px;background:#0007;${FONT}color:#1f2328}
.d{width:min(460px,100%);max-height:100%;overflow:auto;background:#fff;border-radius:12px;padding:20px;box-shadow:0 8px 32px #0006;outline:0}
h2{margin:0 0 12px;font-size:18px}
.q{margin:0 0 8px;padding:8px 12px;border-left:3px solid var(--a);background:#f3f5f7;color:#505a64;overflow-wrap:anywhere}
mark{background:#ffe58a;color:#1f2328}
label{display:block;font-weight:600;margin:10px 0 4px}
textarea,button{font:inherit;color:inherit;border:1px solid #6e7781;border-radius:6px}
textarea{display:block;width:100%;min-height:60px;resize:vertical;background:inherit;padding:6px 8px}
:focus-visible{outline:2px solid var(--a);outline-offset:2px}
.s{margin:12px 0 0}
.e{color:#b3261e}
.b{display:flex;flex-wrap:wrap;gap:8px;justify-content:flex-end;margin-top:14px}
button{padding:7px 16px;background:#fff}
.p{background:var(--a);border-color:var(--a);color:#fff}
button:disabled{opacity:.6}
.k .q,.k form>*:not(.s){display:none}
@media (prefers-color-scheme:dark){.o{color:#e6edf3}.d,button{background:#22272e}.q{background:#2d333b;color:#b4bfc9}.e{color:#ff9b93}}
@media (prefers-reduced-motion:no-preference){.d{animation:i .15s ease-out}@keyframes i{from{opacity:0;transform:translateY(8px)}}}`;
  const TAP_CSS = `${BASE}position:fixed!important;z-index:2147483646!important;display:block!important}
button{${FONT}padding:10px 14px;border:0;border-radius:20px;background:var(--a,#0b57d0);color:#fff;box-shadow:0 4px 14px #0005}`;
  const HINT_CSS = `${BASE}display:block!important;font:inherit!important;color:inherit!important}
p{margin:1.5em 0 0;font-size:.85em;opacity:.75}`;

  let cfg;
  let t;
  let coarse;
  let accentCss = "";
  let ui = null;
  let closeTimer;

  const fmt = (s, o) => s.replace(/\{(\w)\}/g, (_, k) => o[k]);
  const squash = (s) => s.replace(/\s+/g, " ");
  const chars = (s) => Array.from(s);
  const ready = (fn) => (D.body ? fn() : D.addEventListener("DOMContentLoaded", fn));
  const isEditable = (node) =>
    node && (node.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(node.tagName));

  function el(tag, attrs, text, parent) {
    const node = D.createElement(tag);
    for (const k in attrs) node.setAttribute(k, attrs[k]);
    if (text) node.textContent = text;
    if (parent) parent.append(node);
    return node;
  }

  // Constructable stylesheets keep a strict style-src CSP happy; a <style> element is the
  // fallback for the few browsers without them.
  function sheet(root, css) {
    let s;
    try {
      s = new CSSStyleSheet();
      root.adoptedStyleSheets = [...root.adoptedStyleSheets, s];
    } catch (e) {
      s = el("style", {}, "", root);
      s.replaceSync = (c) => (s.textContent = c);
    }
    s.replaceSync(css);
    return s;
  }

  function shadow(tag, css) {
    const host = D.createElement(tag);
    const root = host.attachShadow({ mode: "open" });
    sheet(root, css + accentCss);
    return [host, root];
  }

  const ours = (node) => [ui && ui.host, tap.host].some((h) => h && h.contains(node));

  // Climb out of inline elements (<a>, <em>, <span>...) to the block that holds the text,
  // so the context stops at paragraph boundaries.
  function blockOf(node) {
    let e = node.nodeType === 1 ? node : node.parentElement;
    while (e && e !== D.body && /^(inline|contents)$/.test(getComputedStyle(e).display))
      e = e.parentElement;
    return e || D.body;
  }

  function quoteOf(range) {
    const raw = range.toString();
    const exact = squash(raw).trim();
    if (!exact) return null;
    // The whitespace trimmed off the selection belongs to the context, as on the page.
    const lead = raw.match(/^\s*/)[0];
    const trail = raw.match(/\s*$/)[0];
    const r = D.createRange();
    r.setStart(blockOf(range.startContainer), 0);
    r.setEnd(range.startContainer, range.startOffset);
    const prefix = chars(squash(r.toString() + lead).trimStart())
      .slice(-CONTEXT)
      .join("");
    const end = blockOf(range.endContainer);
    r.setStart(range.endContainer, range.endOffset);
    r.setEnd(end, end.childNodes.length);
    const suffix = chars(squash(trail + r.toString()).trimEnd())
      .slice(0, CONTEXT)
      .join("");
    return { exact, prefix, suffix };
  }

  function selectedQuote() {
    const sel = D.getSelection();
    if (!sel || !sel.rangeCount || sel.isCollapsed) return null;
    const range = sel.getRangeAt(0);
    return ours(range.commonAncestorContainer) ? null : quoteOf(range);
  }

  function deepActive() {
    let a = D.activeElement;
    while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
    return a;
  }

  function pageUrl() {
    const link = D.querySelector("link[rel~=canonical]");
    return link && /^https?:/.test(link.href) ? link.href : location.href;
  }

  function open(quote) {
    const back = ui ? ui.back : deepActive();
    close(true);
    hideTap();
    const [host, root] = shadow("feedback-dialog", DIALOG_CSS);
    const long = quote && chars(quote.exact.normalize("NFC")).length > MAX_QUOTE;
    const o = el("div", { class: "o" }, "", root);
    const d = el(
      "div",
      { class: "d", role: "dialog", "aria-modal": "true", "aria-labelledby": "t", tabindex: "-1" },
      "",
      o,
    );
    el("h2", { id: "t" }, quote ? t.typo : t.page, d);
    let fix = null;
    let note = null;
    if (quote && !long) {
      // Context cut at the length limit shows "…" instead of half a word.
      const cut = (s, re) => (chars(s).length < CONTEXT ? s : s.replace(re, "…"));
      const q = el("p", { class: "q" }, cut(quote.prefix, /^\S*/), d);
      el("mark", {}, quote.exact, q);
      q.append(cut(quote.suffix, /\S*$/));
    }
    const form = el("form", {}, "", d);
    if (!long) {
      if (quote) {
        el("label", { for: "f" }, t.fix, form);
        fix = el("textarea", { id: "f", rows: "2", maxlength: "2000" }, "", form);
        fix.value = quote.exact;
      }
      // "Comment (optional)" minus its parenthesis is the required field's label, in every language.
      el("label", { for: "c" }, quote ? t.note : t.note.replace(/ \(.*/, ""), form);
      note = el("textarea", { id: "c", rows: "3", maxlength: "2000" }, "", form);
      note.required = !quote;
    }
    const status = el("p", { class: "s", role: "status", "aria-live": "polite" }, "", form);
    const bar = el("div", { class: "b" }, "", form);
    const retry = el("button", { type: "button", hidden: "" }, t.retry, bar);
    el("button", { type: "button" }, t.close, bar).onclick = () => close();
    const send = long ? null : el("button", { type: "submit", class: "p" }, t.send, bar);
    const mine = (ui = { host, root, back, busy: false });

    const say = (text, error) => {
      status.textContent = text;
      status.classList.toggle("e", !!error);
    };

    async function submit() {
      if (!send || mine.busy || !form.reportValidity()) return;
      mine.busy = send.disabled = true;
      // Hiding the focused "Try again" would drop focus to the page; keep it in the dialog.
      if (mine.root.activeElement === retry) d.focus();
      retry.hidden = true;
      say(t.wait);
      const data = {
        site: cfg.site,
        kind: quote ? "typo" : "comment",
        url: pageUrl(),
        title: chars(D.title).slice(0, 500).join(""),
        lang: D.documentElement.lang || "",
        quote: quote || undefined,
        suggestion: fix ? fix.value : "",
        comment: note.value,
        website: "",
      };
      let error = "";
      let again = false;
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 20000);
      try {
        const res = await fetch(
          `${cfg.origin}/api/v1/reports?site=${encodeURIComponent(cfg.site)}`,
          {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(data),
            signal: abort.signal,
          },
        );
        if (!res.ok) {
          const body = await res.json().catch(() => ({}));
          const message = (body.error && body.error.message) || "";
          if (res.status === 429) {
            // Retry-After is not readable cross-origin unless exposed; the message carries it too.
            const n =
              Math.ceil(res.headers.get("Retry-After") / 60) || +(message.match(/\d+/) || [1])[0];
            error = fmt(t.rate, { n });
          } else if (res.status < 500 && message) {
            error = message;
          } else {
            error = `${t.fail} (${res.status})`;
            again = true;
          }
          console.warn(TAG, res.status, message);
        }
      } catch (e) {
        console.warn(TAG, e);
        error = t.fail;
        again = true;
      }
      clearTimeout(timer);
      if (ui !== mine) return;
      if (error) {
        mine.busy = send.disabled = false;
        say(error, true);
        retry.hidden = !again;
        return;
      }
      // Sent: stay busy, so nothing (not even Ctrl+Enter on the thank-you) sends it twice.
      d.classList.add("k");
      d.focus();
      say(t.thanks);
      closeTimer = setTimeout(close, 2000);
    }

    form.onsubmit = (e) => {
      e.preventDefault();
      submit();
    };
    retry.onclick = submit;
    mine.submit = submit;
    D.body.append(host);
    if (long) say(t.long, true);
    (fix || note || bar.lastChild).focus();
  }

  function close(quiet) {
    clearTimeout(closeTimer);
    if (!ui) return;
    const back = ui.back;
    ui.host.remove();
    ui = null;
    if (!quiet && back && back.focus) back.focus({ preventScroll: true });
  }

  function trapTab(e) {
    const items = [...ui.root.querySelectorAll("textarea,button")].filter(
      (x) => !x.disabled && x.getClientRects().length,
    );
    const first = items[0];
    const last = items[items.length - 1];
    const at = ui.root.activeElement;
    if (!items.includes(at) || at === (e.shiftKey ? first : last)) {
      e.preventDefault();
      (e.shiftKey ? last : first).focus();
    }
  }

  function onKey(e) {
    const send =
      (e.ctrlKey || e.metaKey) && (e.key === "Enter" || e.keyCode === 13 || e.keyCode === 10);
    if (ui) {
      if (e.key === "Escape") close();
      else if (e.key === "Tab") return trapTab(e);
      else if (send) ui.submit && ui.submit();
      else return;
      e.preventDefault();
      e.stopPropagation();
      return;
    }
    if (!send || e.repeat || e.isComposing || isEditable(e.composedPath()[0])) return;
    e.preventDefault();
    open(selectedQuote());
  }

  // The touch button: shown next to a selection on coarse-pointer devices.
  const tap = { host: null, range: null };

  function hideTap() {
    if (tap.host) tap.host.remove();
  }

  function placeTap() {
    const sel = D.getSelection();
    const range = sel && sel.rangeCount && !sel.isCollapsed && sel.getRangeAt(0);
    clearTimeout(tap.timer);
    // Hide a moment late: on some phones the tap on the button itself clears the selection,
    // and the button must still be there to receive the click.
    if (!range || ui || ours(range.commonAncestorContainer) || !range.toString().trim())
      return (tap.timer = setTimeout(hideTap, 400));
    tap.range = range.cloneRange();
    if (!tap.host) {
      const [host, root] = shadow("feedback-tap", TAP_CSS);
      const b = el("button", { type: "button" }, t.typo, root);
      // Keep the page selection: the button must not take focus or start a new selection.
      b.onpointerdown = b.onmousedown = (e) => e.preventDefault();
      b.onclick = () => open(quoteOf(tap.range));
      tap.host = host;
      tap.pos = sheet(root, "");
    }
    const r = tap.range.getBoundingClientRect();
    const x = Math.max(8, Math.min(r.left, innerWidth - 160));
    const y = Math.min(r.bottom + 14, innerHeight - 56);
    tap.pos.replaceSync(`:host{left:${x | 0}px!important;top:${y | 0}px!important}`);
    if (!tap.host.isConnected) D.body.append(tap.host);
  }

  function showHint() {
    let box;
    try {
      box = cfg.container && D.querySelector(cfg.container);
    } catch (e) {
      console.warn(TAG, "bad data-container", cfg.container);
    }
    box = box || D.querySelector("article") || D.querySelector("main") || D.body;
    const [host, root] = shadow("feedback-hint", HINT_CSS);
    // Phones have no keys to press: name the button that appears beside a selection.
    const k = coarse
      ? `"${t.typo}"`
      : /Mac|iP(hone|ad|od)/.test(navigator.platform)
        ? "⌘+Enter"
        : "Ctrl+Enter";
    el("p", {}, fmt(t.hint, { k }), root);
    box.append(host);
  }

  function boot() {
    if (!SCRIPT || !SCRIPT.src) return;
    if (W.Feedback && W.Feedback.version) return console.warn(TAG, "loaded twice");
    const data = SCRIPT.dataset;
    cfg = {
      origin: new URL(SCRIPT.src).origin,
      site: data.site || "",
      container: data.container || "",
      hint: data.hint !== undefined,
      accent: data.accent || "",
      lang:
        [data.lang, D.documentElement.lang, navigator.language]
          .map((c) => (c || "").toLowerCase().split(/[-_]/)[0])
          .find((c) => LANGS[c]) || "en",
    };
    if (!cfg.site) return console.warn(TAG, "data-site is missing");
    t = {};
    LANGS[cfg.lang].split("|").forEach((v, i) => (t[KEYS[i]] = v));
    if (cfg.accent) {
      if (W.CSS && CSS.supports("color", cfg.accent))
        accentCss = `:host{--a:${cfg.accent}!important}`;
      else console.warn(TAG, "bad data-accent", cfg.accent);
    }
    const queued = (W.Feedback && W.Feedback.q) || [];
    W.Feedback = {
      version: 1,
      open: (options) =>
        ready(() => open(options && options.kind === "comment" ? null : selectedQuote())),
    };
    W.addEventListener("keydown", onKey, true);
    coarse = W.matchMedia && matchMedia("(pointer:coarse)").matches;
    if (coarse) {
      D.addEventListener("selectionchange", () => ready(placeTap));
      W.addEventListener("scroll", () => tap.host && tap.host.isConnected && placeTap(), {
        passive: true,
      });
    }
    if (cfg.hint) ready(showHint);
    queued.forEach((options) => W.Feedback.open(options));
  }

  boot();
})();
