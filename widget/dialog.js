// The feedback dialog: imported by the loader (widget.js) on the reader's first use, one
// language per bundle. The service prepends `const T = {...}`, the strings of the bundle's
// language from strings.json, and serves it compacted (feedback/widget.py).
//
// Besides the dialog it works out where on the page the quote is, following the W3C Web
// Annotation model: a TextQuoteSelector whose context runs on across block boundaries, a
// TextPositionSelector over the page's visible text, and a text-fragment directive
// (#:~:text=) that is word-bounded and matches the selected occurrence and nothing else.

const W = window;
const D = document;
const TAG = "[feedback]";
// The server's limit on quote.exact, in code points after whitespace is collapsed.
const MAX_QUOTE = 300;
// Context shown around the quote in the dialog.
const SHOWN = 64;
// The server keeps at most 200 code points of context; NFC may add a few.
const MAX_CONTEXT = 190;
// Quotes longer than this (in UTF-16 units) become a start,end fragment.
const LONG = 80;

const DIALOG_CSS = `:host{all:initial!important;position:fixed!important;inset:0!important;z-index:2147483647!important;display:block!important;--a:#0b57d0}
*{box-sizing:border-box}
.o{position:fixed;inset:0;display:grid;place-items:center;padding:12px;background:#0007;font:15px/1.45 system-ui,sans-serif;color:#1f2328}
.d{width:min(460px,100%);max-height:100%;overflow:auto;background:#fff;border-radius:12px;padding:20px;box-shadow:0 8px 32px #0006;outline:0}
h2{margin:0 0 12px;font-size:18px}
.q{margin:0 0 8px;padding:8px 12px;border-inline-start:3px solid var(--a);background:#f3f5f7;color:#505a64;overflow-wrap:anywhere}
mark{background:#ffe58a;color:#1f2328}
label{display:block;font-weight:600;margin:10px 0 4px}
textarea,input,button{font:inherit;color:inherit;border:1px solid #6e7781;border-radius:6px}
textarea,input{display:block;width:100%;background:inherit;padding:6px 8px}
textarea{min-height:60px;resize:vertical}
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

// Elements whose text is never part of what a reader sees as the page's text.
const SKIP = /^(script|style|noscript|template|textarea|input|select|option|iframe|object|embed|canvas|video|audio|img|head|title)$/;
// Display values that keep text in the surrounding block; anything else starts a block.
const INLINE = /^(inline|contents|math|inline math|ruby|ruby-base|ruby-text)$/;
const MATHML = "http://www.w3.org/1998/Math/MathML";

let cfg;
let t;
let accent = "";
let selected;
let ui = null;
let closeTimer;
let told = false;
let config = null;

const fmt = (s, o) => s.replace(/\{(\w)\}/g, (_, k) => o[k]);
const squash = (s) => s.replace(/\s+/g, " ").trim();
const chars = (s) => Array.from(s);

function el(tag, attrs, text, parent) {
  const node = D.createElement(tag);
  for (const k in attrs) node.setAttribute(k, attrs[k]);
  if (text) node.textContent = text;
  if (parent) parent.append(node);
  return node;
}

// ---------------------------------------------------------------------------------------
// The page's visible text, as a reader (and the browser's find) sees it: hidden elements
// left out, whitespace collapsed where CSS collapses it, <pre> kept as written, &nbsp; a
// space, and a line break ("\n") at every block boundary and <br>.

function pageText() {
  const nodes = [];
  const index = new Map();
  // Where a <details>' hidden part begins and ends: a link opens the page with it closed,
  // and the browser does not look across into it for context.
  const fences = [];
  let text = "";
  let space = false;
  const brk = () => {
    space = false;
    if (text && text[text.length - 1] !== "\n") text += "\n";
  };
  const add = (node, ws) => {
    const s = node.data;
    const pre = /^(pre|pre-wrap|break-spaces)$/.test(ws);
    const lines = ws === "pre-line";
    const map = new Array(s.length + 1);
    const a = text.length;
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (c === "\n" && (pre || lines)) {
        map[i] = text.length;
        brk();
      } else if (!pre && /[ \t\n\r\f]/.test(c)) {
        map[i] = text.length;
        if (text && text[text.length - 1] !== "\n") space = true;
      } else {
        if (space) text += " ";
        space = false;
        map[i] = text.length;
        text += c === "\u00a0" || c === "\t" ? " " : c;
      }
    }
    map[s.length] = text.length;
    const entry = { n: node, a, m: map };
    nodes.push(entry);
    index.set(node, entry);
  };
  const walk = (parent, ws, shown) => {
    for (let c = parent.firstChild; c; c = c.nextSibling) {
      if (c.nodeType === 3) {
        if (shown) add(c, ws);
        continue;
      }
      if (c.nodeType !== 1) continue;
      const name = c.localName;
      if (SKIP.test(name) || name.startsWith("feedback-")) continue;
      if (name === "br") {
        brk();
        continue;
      }
      const cs = getComputedStyle(c);
      if (cs.display === "none") continue;
      // Inside a formula, MathML lays its parts out as "block math": they are still inline.
      const block =
        c.namespaceURI === MATHML ? name === "math" && cs.display === "block math" : !INLINE.test(cs.display);
      if (block) brk();
      if (name === "details") fences.push(text.length);
      walk(c, cs.whiteSpace, cs.visibility !== "hidden" && cs.visibility !== "collapse");
      if (block) brk();
      if (name === "details" || name === "summary") fences.push(text.length);
    }
  };
  walk(D.body, getComputedStyle(D.body).whiteSpace, true);
  // No boundary after the last block: the text ends where the page's last words do.
  if (text.endsWith("\n")) text = text.slice(0, -1);
  return { text, nodes, index, fences };
}

// Where a boundary point of a range falls in the page text.
function offsetOf(page, container, offset, isEnd) {
  const e = page.index.get(container);
  if (e) return e.m[offset];
  const r = D.createRange();
  r.setStart(container, offset);
  const { nodes } = page;
  let lo = 0;
  let hi = nodes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (r.comparePoint(nodes[mid].n, 0) < 0) lo = mid + 1;
    else hi = mid;
  }
  if (isEnd) {
    const p = nodes[lo - 1];
    return p ? p.m[p.n.data.length] : 0;
  }
  return lo < nodes.length ? nodes[lo].a : page.text.length;
}

// ---------------------------------------------------------------------------------------
// Text fragments. Browsers match each term inside one block, case- and accent-blind, and
// the outer ends of a directive only on word boundaries as ICU segments words; between
// the prefix and the start, and the end and the suffix, only whitespace may come.

// One UTF-16 unit for one, so offsets in the folded text are offsets in the page text.
const folded = new Map();
const fold1 = (c) => {
  let f = folded.get(c);
  if (f === undefined) {
    f = c.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
    if (f.length !== 1) f = c.toLowerCase().length === 1 ? c.toLowerCase() : c;
    folded.set(c, f);
  }
  return f;
};
const fold = (s) => s.replace(/[^\0-\x7f]/g, fold1).toLowerCase();

function matcher(page) {
  const T = page.text;
  const F = fold(T);
  const blocks = new Map();
  let segmenter;
  try {
    segmenter = new Intl.Segmenter(D.documentElement.lang || undefined, { granularity: "word" });
  } catch (e) {
    segmenter = new Intl.Segmenter(undefined, { granularity: "word" });
  }
  const startOf = (i) => T.lastIndexOf("\n", i - 1) + 1;
  // The words of the block holding position i: [{s, e, w}], w for a word (not punctuation).
  const block = (i) => {
    const a = startOf(i);
    let b = blocks.get(a);
    if (!b) {
      let z = T.indexOf("\n", a);
      if (z < 0) z = T.length;
      b = { a, z, segs: [], cuts: new Set([a, z]) };
      for (const g of segmenter.segment(T.slice(a, z))) {
        const s = a + g.index;
        b.segs.push({ s, e: s + g.segment.length, w: g.isWordLike });
        b.cuts.add(s);
      }
      blocks.set(a, b);
    }
    return b;
  };
  const bounded = (i) => i <= 0 || i >= T.length || T[i - 1] === "\n" || block(i).cuts.has(i);
  const skipSpace = (i) => {
    while (F[i] === " " || F[i] === "\n") i++;
    return i;
  };
  const find = (term, from, sb, eb) => {
    for (let i = F.indexOf(term, from); i >= 0; i = F.indexOf(term, i + 1))
      if ((!sb || bounded(i)) && (!eb || bounded(i + term.length))) return i;
    return -1;
  };
  // Every match of a directive {p, s, e, x} (folded terms), in document order, up to `limit`.
  const matches = (d, limit) => {
    const out = [];
    let from = 0;
    while (out.length < limit) {
      let ms;
      let me;
      const lone = !d.e && !d.x;
      if (d.p) {
        const pi = find(d.p, from, true, false);
        if (pi < 0) break;
        from = pi + 1;
        ms = skipSpace(pi + d.p.length);
        if (!F.startsWith(d.s, ms) || (lone && !bounded(ms + d.s.length))) continue;
      } else {
        ms = find(d.s, from, true, lone);
        if (ms < 0) break;
        from = ms + 1;
      }
      me = ms + d.s.length;
      let endFrom = me;
      let found = false;
      for (;;) {
        let end = me;
        if (d.e) {
          const ei = find(d.e, endFrom, true, !d.x);
          if (ei < 0) break;
          end = ei + d.e.length;
        }
        if (d.x) {
          const xi = skipSpace(end);
          if (!F.startsWith(d.x, xi) || !bounded(xi + d.x.length)) {
            if (!d.e) break;
            endFrom = end;
            continue;
          }
        }
        me = end;
        found = true;
        break;
      }
      if (found) out.push([ms, me]);
      else if (d.e) break;
    }
    return out;
  };
  const fenced = (i, j) => page.fences.some((f) => f > i && f <= j);
  return { T, block, bounded, matches, fenced };
}

const enc = (s) => encodeURIComponent(s).replace(/-/g, "%2D");

// A directive that matches [s, e) of the page text and nothing else, or "" if the page
// does not allow one. Like the browsers' own "copy link to highlight": start with the quote
// itself (its first and last words if long), add words of context on both sides, then more
// words of a long quote, until exactly one match is left. If the quote's own block has the
// same words elsewhere, highlight from the start of its block, with context from the block
// before; failing that, from the last words of a block before it.
function fragment(m, s, e) {
  const { T, block, bounded, fenced } = m;
  const term = (a, b) => T.slice(a, b).replace(/\s+/g, " ").trim();
  const words = (b) => b.segs.filter((g) => g.w);
  const first = block(s);
  const last = block(e - 1);
  const multi = first !== last;
  const before = first.a > 0 && !fenced(first.a - 1, first.a) ? words(block(first.a - 1)) : [];
  // Where a suffix may end, nearest first. A term lies inside one block, but between the
  // quote and its suffix only whitespace may come, block boundaries included.
  const post = words(last).filter((g) => g.e > e).map((g) => g.e);
  if (T.slice(post.length ? post[post.length - 1] : e, last.z).trim()) post.push(last.z);
  if (!T.slice(e, last.z).trim() && last.z < T.length && !fenced(last.z, last.z + 1))
    post.push(...words(block(last.z + 1)).map((g) => g.e));
  const needSuffix = !bounded(e);
  const tried = new Set();

  // p: prefix start, [a, b): start term, [c, e): end term (c null: none), x: suffix end.
  const attempt = (p, a, b, c, x) => {
    const parts = [
      p != null && term(p, a),
      term(a, b),
      c != null && term(c, e),
      x != null && term(e, x),
    ];
    const key = parts.join("\u0000");
    if (parts.some((v) => v === "") || tried.has(key)) return "";
    tried.add(key);
    const d = {
      p: parts[0] && fold(parts[0]),
      s: fold(parts[1]),
      e: parts[2] && fold(parts[2]),
      x: parts[3] && fold(parts[3]),
    };
    const found = m.matches(d, 2);
    if (found.length !== 1 || found[0][0] !== a || found[0][1] !== e) return "";
    return [
      parts[0] && `${enc(parts[0])}-`,
      enc(parts[1]),
      parts[2] && enc(parts[2]),
      parts[3] && `-${enc(parts[3])}`,
    ]
      .filter(Boolean)
      .join(",");
  };

  // The highlight runs from a to e; pre: where a prefix may start, nearest first.
  const from = (a, pre) => {
    const needPrefix = !bounded(a);
    const context = (b, c) => {
      for (let n = 0; n <= 8; n++) {
        const pn = Math.min(Math.max(n, needPrefix ? 1 : 0), pre.length);
        const xn = Math.min(Math.max(n, needSuffix ? 1 : 0), post.length);
        if ((needPrefix && !pn) || (needSuffix && !xn)) return "";
        const got = attempt(pn ? pre[pn - 1] : null, a, b, c, xn ? post[xn - 1] : null);
        if (got || (pn === pre.length && xn === post.length)) return got;
      }
      return "";
    };
    const head = words(first).filter((g) => g.s >= a && g.e <= (multi ? first.z : e));
    const tail = words(last).filter((g) => g.e <= e && g.s >= (multi ? last.a : a));
    if (!multi && e - a <= LONG) return context(e, null);
    for (const n of [3, 5, 8, 13]) {
      const h = head[Math.min(n, head.length) - 1];
      const tl = tail[tail.length - Math.min(n, tail.length)];
      if (!h || !tl || (!multi && h.e >= tl.s)) return multi ? "" : context(e, null);
      const got = context(h.e, tl.s);
      if (got) return got;
    }
    return "";
  };

  const own = words(first).filter((g) => g.s < s).map((g) => g.s).reverse();
  const startsBlock = !T.slice(first.a, s).trim();
  const prev = before.map((g) => g.s).reverse();
  let got = from(s, startsBlock ? prev : own);
  if (!got && !startsBlock && bounded(first.a)) got = from(first.a, prev);
  // Last resort: from the last words of a block before the quote to its last words.
  const tail = words(last).filter((g) => g.e <= e && g.s >= (multi ? last.a : s));
  for (let back = first.a, k = 0; !got && tail.length && back > 0 && k < 3; k++) {
    const b = block(back - 1);
    if (fenced(b.z, back)) break;
    back = b.a;
    const w = words(b);
    if (!w.length) continue;
    const a = w[Math.max(0, w.length - 4)].s;
    const c = tail[Math.max(0, tail.length - 3)].s;
    for (let n = 0; !got && n <= 4; n++) {
      const xn = Math.min(Math.max(n, needSuffix ? 1 : 0), post.length);
      if (needSuffix && !xn) break;
      got = attempt(null, a, w[w.length - 1].e, c, xn ? post[xn - 1] : null);
    }
  }
  return got;
}

// ---------------------------------------------------------------------------------------
// What identifies the selected spot: the quote with its context, its position in the page
// text, and the text-fragment directive.

function capture(range) {
  if (!range) return null;
  const page = pageText();
  const T = page.text;
  let s = offsetOf(page, range.startContainer, range.startOffset, false);
  let e = offsetOf(page, range.endContainer, range.endOffset, true);
  while (s < e && /\s/.test(T[s])) s++;
  while (e > s && /\s/.test(T[e - 1])) e--;
  if (s >= e) return null;
  const raw = T.slice(s, e);
  const exact = squash(raw);
  const quote = { exact, prefix: "", suffix: "" };
  const long = chars(exact.normalize("NFC")).length > MAX_QUOTE;
  // Context grows until prefix + quote + suffix occurs once on the page.
  const count = (needle) => {
    let n = 0;
    for (let i = T.indexOf(needle); i >= 0 && n < 2; i = T.indexOf(needle, i + 1)) n++;
    return n;
  };
  for (const k of [64, 128, MAX_CONTEXT]) {
    quote.prefix = chars(T.slice(Math.max(0, s - 2 * k), s)).slice(-k).join("");
    quote.suffix = chars(T.slice(e, e + 2 * k)).slice(0, k).join("");
    if (count(quote.prefix + raw + quote.suffix) < 2) break;
  }
  const cp = (i) => i - (T.slice(0, i).match(/[\ud800-\udbff]/g) || []).length;
  // The fragment takes longer (word segmentation warms up on first use): it is worked out
  // once the dialog is on screen, while the reader types.
  const out = { quote, position: { start: cp(s), end: cp(e) }, long };
  out.fragment = long
    ? Promise.resolve("")
    : new Promise((done) =>
        requestAnimationFrame(() =>
          setTimeout(() => {
            try {
              done(fragment(matcher(page), s, e));
            } catch (err) {
              console.warn(TAG, "no text fragment for this quote", err);
              done("");
            }
          }),
        ),
      );
  return out;
}

// ---------------------------------------------------------------------------------------
// Drafts: what the reader typed and did not get sent, per page and quote, for this tab.

const draftKey = () => `feedback:${pageUrl()}`;
function drafts(update) {
  try {
    const all = JSON.parse(sessionStorage.getItem(draftKey()) || "{}");
    if (!update) return all;
    update(all);
    if (Object.keys(all).length) sessionStorage.setItem(draftKey(), JSON.stringify(all));
    else sessionStorage.removeItem(draftKey());
  } catch (e) {
    return {};
  }
}

// ---------------------------------------------------------------------------------------
// Site configuration, asked once per page view: whether the reader may leave an email
// address, and whether this page may send reports at all.

function siteConfig(fresh) {
  if (!config || fresh)
    config = fetch(
      `${cfg.origin}/api/v1/widget-config?site=${encodeURIComponent(cfg.site)}&url=${encodeURIComponent(pageUrl())}`,
      { credentials: "omit" },
    )
      .then((r) => r.json())
      .catch(() => ({}));
  return config;
}

const HOW = {
  unknown_site: (c) =>
    `data-site="${c.site}" is not a site registered at ${c.origin}. Copy the script tag from the dashboard's Sites page.`,
  origin_not_allowed: (c) =>
    `site ${c.site} does not accept reports from ${location.origin}. Add ${location.origin} to the site's allowed origins on the dashboard's Sites page.`,
  url_not_allowed: (c) =>
    `the page address ${pageUrl()} (from <link rel="canonical"> when there is one) is not on one of site ${c.site}'s allowed origins. Fix the canonical link, or add its origin on the dashboard's Sites page.`,
};
HOW.origin_required = HOW.origin_not_allowed;

// A setup mistake no retry can get past: say what to fix, once per page.
function setupError(code) {
  if (!HOW[code]) return false;
  if (!told) console.error(TAG, `Reports cannot be sent from this page: ${HOW[code](cfg)}`);
  told = true;
  return true;
}

// ---------------------------------------------------------------------------------------
// The dialog.

function deepActive() {
  let a = D.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  return a;
}

function pageUrl() {
  const link = D.querySelector("link[rel~=canonical]");
  return link && /^https?:/.test(link.href) ? link.href : location.href;
}

// The quote's own block around it, for the reader's eyes, cut with "…" mid-word.
function around(q) {
  const before = q.prefix.slice(q.prefix.lastIndexOf("\n") + 1);
  const cut = q.suffix.indexOf("\n");
  const after = cut < 0 ? q.suffix : q.suffix.slice(0, cut);
  const b = chars(before.replace(/\s+/g, " ")).slice(-SHOWN);
  const a = chars(after.replace(/\s+/g, " ")).slice(0, SHOWN);
  return [
    (b.length < SHOWN ? b.join("") : b.join("").replace(/^\S*/, "…")).trimStart(),
    (a.length < SHOWN ? a.join("") : a.join("").replace(/\S*$/, "…")).trimEnd(),
  ];
}

function sheet(root, css) {
  const s = new CSSStyleSheet();
  s.replaceSync(css + accent);
  root.adoptedStyleSheets = [s];
  return s;
}

function open(range) {
  const back = ui ? ui.back : deepActive();
  hideTap();
  const found = capture(range);
  const quote = found && found.quote;
  close(true);
  const host = D.createElement("feedback-dialog");
  const root = host.attachShadow({ mode: "open" });
  sheet(root, DIALOG_CSS);
  const long = found && found.long;
  // The dialog speaks its own language, whatever the page's direction.
  const o = el("div", { class: "o", dir: t.dir || "ltr", lang: cfg.lang }, "", root);
  const d = el(
    "div",
    { class: "d", role: "dialog", "aria-modal": "true", "aria-labelledby": "t", tabindex: "-1" },
    "",
    o,
  );
  el("h2", { id: "t" }, quote ? t.typo : t.page, d);
  let fix = null;
  let note = null;
  let mail = null;
  if (quote && !long) {
    const [before, after] = around(quote);
    const q = el("p", { class: "q", dir: "auto" }, before, d);
    el("mark", {}, quote.exact, q);
    q.append(after);
  }
  const form = el("form", {}, "", d);
  if (!long) {
    if (quote) {
      el("label", { for: "f" }, t.fix, form);
      fix = el("textarea", { id: "f", rows: "2", maxlength: "2000", dir: "auto" }, "", form);
      fix.value = quote.exact;
    }
    el("label", { for: "c" }, quote ? t.note : t.comment, form);
    note = el("textarea", { id: "c", rows: "3", maxlength: "2000", dir: "auto" }, "", form);
    note.required = !quote;
  }
  const status = el("p", { class: "s", role: "status", "aria-live": "polite" }, "", form);
  const bar = el("div", { class: "b" }, "", form);
  const retry = el("button", { type: "button", hidden: "" }, t.retry, bar);
  el("button", { type: "button" }, t.close, bar).onclick = () => close();
  const send = long ? null : el("button", { type: "submit", class: "p" }, t.send, bar);
  const draftId = quote ? quote.exact : "";
  const mine = (ui = { host, root, back, busy: false });

  const say = (text, error) => {
    status.textContent = text;
    status.classList.toggle("e", !!error);
  };
  const typed = () =>
    !!note && (!!note.value.trim() || (fix && fix.value !== quote.exact) || !!(mail && mail.value));
  const keep = () =>
    typed() &&
    drafts((all) => {
      all[draftId] = { f: fix ? fix.value : "", c: note.value, m: mail ? mail.value : "" };
    });
  mine.keep = keep;
  const blocked = () => {
    say(t.cfg, true);
    retry.hidden = true;
    if (send) send.hidden = true;
  };

  async function submit() {
    if (!send || send.hidden || mine.busy || !form.reportValidity()) return;
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
      position: (quote && found.position) || undefined,
      fragment: (quote && (await found.fragment)) || undefined,
      suggestion: fix ? fix.value : "",
      comment: note.value,
      notify_email: (mail && mail.value.trim()) || undefined,
      website: "",
    };
    let error = "";
    let again = false;
    let setup = false;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), 20000);
    try {
      const res = await fetch(`${cfg.origin}/api/v1/reports?site=${encodeURIComponent(cfg.site)}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(data),
        signal: abort.signal,
        credentials: "omit",
      });
      if (!res.ok) {
        const body = await res.json().catch(() => ({}));
        const err = body.error || {};
        const message = err.message || "";
        if (res.status === 429) {
          // Retry-After is readable cross-origin because the service exposes it.
          const n =
            Math.ceil(res.headers.get("Retry-After") / 60) || +(message.match(/\d+/) || [1])[0];
          error = fmt(t.rate, { n });
        } else if (setupError(err.code)) {
          setup = true;
        } else if (res.status < 500 && message) {
          error = message;
        } else {
          error = `${t.fail} (${res.status})`;
          again = true;
        }
        if (!setup) console.warn(TAG, res.status, message);
      }
    } catch (e) {
      // A refused origin cannot even read the answer: ask the service what is wrong.
      const c = await siteConfig(true);
      if (setupError(c.error && c.error.code)) setup = true;
      else {
        console.warn(TAG, e);
        error = t.fail;
        again = true;
      }
    }
    clearTimeout(timer);
    if (error || setup) keep();
    if (ui !== mine) return;
    mine.busy = false;
    if (setup) return blocked();
    if (error) {
      send.disabled = false;
      say(error, true);
      retry.hidden = !again;
      return;
    }
    drafts((all) => delete all[draftId]);
    mine.sent = true;
    // Sent: stay busy, so nothing (not even Ctrl+Enter on the thank-you) sends it twice.
    mine.busy = true;
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
  const kept = !long && drafts()[draftId];
  if (kept) {
    if (fix) fix.value = kept.f;
    note.value = kept.c;
    mine.mail = kept.m;
    say(t.kept);
  }
  (fix || note || bar.lastChild).focus();
  siteConfig().then((c) => {
    if (ui !== mine || mine.sent) return;
    if (setupError(c.error && c.error.code)) return blocked();
    if (c.notify_reader && quote && note && !mail) {
      const label = el("label", { for: "m" }, t.mail);
      mail = el("input", { id: "m", type: "email", maxlength: "254", autocomplete: "email" });
      mail.value = mine.mail || "";
      note.after(label, mail);
    }
  });
}

function close(quiet) {
  clearTimeout(closeTimer);
  if (!ui) return;
  if (!ui.sent) ui.keep();
  const back = ui.back;
  ui.host.remove();
  ui = null;
  if (!quiet && back && back.focus) back.focus({ preventScroll: true });
}

function trapTab(e) {
  const items = [...ui.root.querySelectorAll("textarea,input,button")].filter(
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

// Keys while the dialog is open: true when the dialog took the key.
function onKey(e) {
  if (!ui) return false;
  if (e.key === "Escape") close();
  else if (e.key === "Tab") trapTab(e);
  else if ((e.ctrlKey || e.metaKey) && (e.key === "Enter" || e.keyCode === 13 || e.keyCode === 10))
    ui.submit && ui.submit();
  else return true;
  if (e.key !== "Tab") {
    e.preventDefault();
    e.stopPropagation();
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// The "Report a typo" button beside a selection: on touch screens, where there are no keys
// to press, and on desktops with data-button="selection".

const TAP_CSS = `:host{all:initial!important;direction:ltr;position:fixed!important;z-index:2147483646!important;display:block!important}
button{font:15px/1.45 system-ui,sans-serif;padding:10px 14px;border:0;border-radius:20px;background:var(--a,#0b57d0);color:#fff;box-shadow:0 4px 14px #0005}`;
const tap = { host: null, range: null, timer: 0, sheet: null };

function hideTap() {
  clearTimeout(tap.timer);
  if (tap.host) tap.host.remove();
}

function placeTap() {
  const range = selected();
  clearTimeout(tap.timer);
  // Hide a moment late: on some phones the tap on the button itself clears the selection,
  // and the button must still be there to receive the click.
  if (!range || ui || !range.toString().trim()) {
    tap.timer = setTimeout(hideTap, 400);
    return;
  }
  tap.range = range;
  if (!tap.host) {
    tap.host = D.createElement("feedback-tap");
    const root = tap.host.attachShadow({ mode: "open" });
    tap.sheet = sheet(root, TAP_CSS);
    const b = el("button", { type: "button", lang: cfg.lang, dir: t.dir || "ltr" }, t.typo, root);
    // Keep the page selection: the button must not take focus or start a new selection.
    b.onpointerdown = b.onmousedown = (e) => e.preventDefault();
    b.onclick = () => open(tap.range);
    W.addEventListener("scroll", () => tap.host.isConnected && placeTap(), { passive: true });
  }
  const r = range.getBoundingClientRect();
  const x = Math.max(8, Math.min(r.left, innerWidth - 160));
  const y = Math.min(r.bottom + 14, innerHeight - 56);
  tap.sheet.replaceSync(`${TAP_CSS + accent}:host{left:${x | 0}px!important;top:${y | 0}px!important}`);
  if (!tap.host.isConnected) D.body.append(tap.host);
}

export default (loaderConfig, loaderSelected) => {
  cfg = loaderConfig;
  selected = loaderSelected;
  t = T;
  if (cfg.accent) {
    if (W.CSS && W.CSS.supports("color", cfg.accent)) accent = `:host{--a:${cfg.accent}!important}`;
    else console.warn(TAG, "bad data-accent", cfg.accent);
  }
  cfg.keys = onKey;
  siteConfig();
  return { open, tap: placeTap };
};
