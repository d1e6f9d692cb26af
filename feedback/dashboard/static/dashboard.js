// Keyboard triage and live updates for the feedback dashboard. Everything here is an
// extra: every action also works as a plain form post without this script.
(function () {
  "use strict";

  const queueForm = document.getElementById("queue-form");
  const help = document.getElementById("help");
  let cursor = null; // data-id of the row the editor is on
  let pendingRefresh = null;
  // Requests for fresh rows are numbered as they start: an answer older than one already
  // shown is dropped, so a live refresh sent before an action cannot bring back rows the
  // action just took away (and move the cursor with them).
  let started = 0;
  let shown = 0;

  function newer(n) {
    if (n < shown) return false;
    shown = n;
    return true;
  }

  function csrf() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function rows() {
    return Array.from(document.querySelectorAll("#rows tr.row"));
  }

  function currentRow() {
    return rows().find((r) => r.dataset.id === cursor) || null;
  }

  function setCursor(row) {
    for (const r of rows()) {
      r.classList.toggle("current", r === row);
      r.removeAttribute("aria-current");
    }
    if (!row) {
      cursor = null;
      return;
    }
    cursor = row.dataset.id;
    row.setAttribute("aria-current", "true");
    row.scrollIntoView({ block: "nearest" });
  }

  function move(delta) {
    const all = rows();
    if (!all.length) return;
    const at = all.findIndex((r) => r.dataset.id === cursor);
    const next = at < 0 ? 0 : Math.min(all.length - 1, Math.max(0, at + delta));
    setCursor(all[next]);
  }

  function selectedIds() {
    return Array.from(document.querySelectorAll('#rows input[name="id"]:checked')).map(
      (box) => box.value
    );
  }

  function flash(text) {
    const box = document.getElementById("messages");
    if (!box) return;
    const p = document.createElement("p");
    p.className = "flash";
    p.textContent = text;
    box.replaceChildren(p);
  }

  // Put the server's fresh rows, counts and pager in place, keeping the cursor and selection.
  function swap(html, options) {
    const template = document.createElement("template");
    template.innerHTML = html;
    const fresh = template.content;
    const keep = new Set(selectedIds());
    const before = rows().findIndex((r) => r.dataset.id === cursor);
    for (const id of ["counts", "pager"]) {
      const source = fresh.getElementById(id);
      const target = document.getElementById(id);
      if (source && target) target.replaceChildren(...source.childNodes);
    }
    const messages = fresh.getElementById("messages");
    if (messages && messages.childNodes.length) {
      document.getElementById("messages").replaceChildren(...messages.childNodes);
    }
    if (options.rows) {
      const source = fresh.getElementById("rows");
      document.getElementById("rows").replaceChildren(...source.childNodes);
      for (const box of document.querySelectorAll('#rows input[name="id"]')) {
        box.checked = keep.has(box.value);
      }
      const all = rows();
      const same = all.find((r) => r.dataset.id === cursor);
      setCursor(same || all[Math.min(Math.max(before, 0), all.length - 1)] || null);
    }
  }

  async function post(url, pairs) {
    const body = new URLSearchParams(pairs);
    body.append("view", queueForm.dataset.view);
    const n = ++started;
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "X-CSRF-Token": csrf(), "X-Requested-With": "fetch" },
        body,
        credentials: "same-origin",
      });
    } catch (err) {
      flash("Could not reach the server. Nothing changed.");
      return;
    }
    if (!response.ok) {
      flash(response.status === 401 ? "Signed out: reload to sign in." : "That did not work.");
      return;
    }
    const html = await response.text();
    if (newer(n)) swap(html, { rows: true });
  }

  function act(to) {
    let ids = selectedIds();
    if (!ids.length && cursor) ids = [cursor];
    if (!ids.length) return;
    post("/dashboard/actions", [["to", to], ...ids.map((id) => ["id", id])]);
  }

  async function refresh(countsOnly) {
    pendingRefresh = null;
    const n = ++started;
    const response = await fetch("/dashboard/rows?" + queueForm.dataset.view, {
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin",
    });
    if (!response.ok) return;
    // New reports go on top of the first page of the newest-first view; elsewhere
    // only the counts move, so nothing jumps under the editor's cursor.
    const live = queueForm.dataset.firstPage === "yes" && queueForm.dataset.sort === "newest";
    const html = await response.text();
    if (newer(n)) swap(html, { rows: live && countsOnly !== true });
  }

  function typing(target) {
    const tag = target.tagName;
    return (
      tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable
    );
  }

  const keys = {
    j: () => move(1),
    k: () => move(-1),
    x: () => {
      const row = currentRow();
      const box = row && row.querySelector('input[name="id"]');
      if (box) box.checked = !box.checked;
    },
    o: () => {
      const row = currentRow();
      if (row && row.dataset.quoteUrl) window.open(row.dataset.quoteUrl, "_blank", "noopener");
    },
    Enter: () => {
      if (cursor) window.location.href = "/dashboard/reports/" + cursor;
    },
    f: () => act("fixed"),
    r: () => act("rejected"),
    s: () => act("spam"),
    u: () => post("/dashboard/undo", []),
    "/": () => {
      const search = document.getElementById("search");
      if (search) search.focus();
    },
  };

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "?") {
      event.preventDefault();
      if (help.open) help.close();
      else help.showModal();
      return;
    }
    if (help.open) return;
    if (!queueForm) {
      // Other pages mark their buttons and links with the key that presses them.
      const target = document.querySelector(`[data-key="${CSS.escape(event.key)}"]`);
      if (target) {
        event.preventDefault();
        target.click();
      }
      return;
    }
    if (!(event.key in keys)) return;
    event.preventDefault();
    keys[event.key]();
  });

  document.addEventListener("click", (event) => {
    const target = event.target;
    if (target.closest("[data-help]")) help.showModal();
    const copy = target.closest("[data-copy]");
    if (copy) {
      const source = document.getElementById(copy.dataset.copy);
      navigator.clipboard.writeText(source.textContent).then(() => {
        copy.textContent = "Copied";
      });
    }
    const row = target.closest("#rows tr.row");
    if (row) setCursor(row);
  });

  function listen(onReport) {
    const source = new EventSource("/dashboard/live");
    // Marks the page as live (tests and styles can tell the stream is up).
    source.addEventListener("open", () => (document.body.dataset.live = "open"));
    source.addEventListener("error", () => (document.body.dataset.live = "reconnecting"));
    source.addEventListener("report", (event) => onReport(JSON.parse(event.data)));
    window.addEventListener("pagehide", () => source.close());
  }

  if (queueForm) {
    setCursor(rows()[0] || null);
    // A search's counts are not on the page at first: fetch them now.
    if (document.querySelector("#counts [data-deferred]")) refresh(true);
    listen(() => {
      if (!pendingRefresh) pendingRefresh = setTimeout(refresh, 150);
    });
  }

  const lastReport = document.getElementById("last-report");
  if (lastReport) {
    listen((report) => {
      if (String(report.site_id) === lastReport.dataset.siteId && report.event !== "report.status_changed") {
        lastReport.textContent = new Date(report.at * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
      }
    });
  }
})();
