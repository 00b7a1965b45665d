/* Helpdesk Q&A widget: plain JavaScript, no dependencies, no build.
 *
 * Configuration (URL parameters win over data attributes of #hd-widget):
 *   desk  (?desk= / data-desk)   the desk to ask
 *   token (?token= / data-token) API bearer token; leave empty when the server runs with KB_AUTH=off
 *   lang  (?lang= / data-lang)   "zh" or "en" (default: the browser's language)
 *
 * Safety: every piece of server text (answers, titles, messages) reaches the page through textContent or
 * through the small Markdown renderer below, which builds DOM nodes and never assigns innerHTML. Links are
 * kept only for http(s), mailto and same-site relative URLs.
 */
(function () {
  "use strict";

  var TEXT = {
    zh: {
      title: "智能客服", label: "您的问题", ask: "提问", placeholder: "请输入您的问题…",
      source: "来源：", helpful: "有帮助", notHelpful: "没有帮助", human: "转人工",
      ticket: "工单", state: "状态", refresh: "刷新", thinking: "正在查找答案…",
      escalated: "这个问题我不确定，已为您转交人工客服。", thanks: "感谢您的反馈！",
      ticketOpened: "已创建工单，客服会尽快回复。", confidence: "置信度", error: "出错了：",
      alternatives: "您可能还想问：", lang: "English",
      states: { open: "待处理", assigned: "处理中", answered: "已回复", resolved: "已解决", closed: "已关闭" },
      roles: { asker: "您", agent: "客服", bot: "机器人" }
    },
    en: {
      title: "Helpdesk", label: "Your question", ask: "Ask", placeholder: "Type your question…",
      source: "Source:", helpful: "Helpful", notHelpful: "Not helpful", human: "Ask a human",
      ticket: "Ticket", state: "State", refresh: "Refresh", thinking: "Looking for an answer…",
      escalated: "I am not sure about this one, so it has been passed to a human agent.",
      thanks: "Thanks for the feedback!", ticketOpened: "A ticket has been opened; an agent will reply soon.",
      confidence: "Confidence", error: "Error: ", alternatives: "Related questions:", lang: "中文",
      states: { open: "open", assigned: "assigned", answered: "answered", resolved: "resolved", closed: "closed" },
      roles: { asker: "You", agent: "Agent", bot: "Bot" }
    }
  };

  var root = document.getElementById("hd-widget");
  if (!root) { return; }
  var params = new URLSearchParams(window.location.search);
  var cfg = {
    desk: params.get("desk") || root.dataset.desk || "default",
    token: params.get("token") || root.dataset.token || "",
    lang: params.get("lang") || root.dataset.lang || ((navigator.language || "zh").toLowerCase().indexOf("zh") === 0 ? "zh" : "en")
  };
  if (!TEXT[cfg.lang]) { cfg.lang = "en"; }
  var state = { question: "", ticketId: null, poll: null };

  function $(id) { return document.getElementById(id); }
  function t(key) { return TEXT[cfg.lang][key]; }

  /* ---------- safe Markdown (subset: paragraphs, lists, **bold**, *em*, `code`, [links](url)) ---------- */
  function safeUrl(url) {
    var u = String(url || "").trim();
    if (/^(https?:|mailto:)/i.test(u) || (u.charAt(0) === "/" && u.charAt(1) !== "/")) { return u; }
    return null;
  }

  var INLINE = /(\*\*([^*]+)\*\*|`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*([^*]+)\*|_([^_]+)_)/;

  function renderInline(text, parent) {
    var rest = String(text);
    while (rest.length) {
      var m = INLINE.exec(rest);
      if (!m) { parent.appendChild(document.createTextNode(rest)); break; }
      if (m.index > 0) { parent.appendChild(document.createTextNode(rest.slice(0, m.index))); }
      var node;
      if (m[2] !== undefined) { node = document.createElement("strong"); node.textContent = m[2]; }
      else if (m[3] !== undefined) { node = document.createElement("code"); node.textContent = m[3]; }
      else if (m[4] !== undefined) {
        var href = safeUrl(m[5]);
        if (href) {
          node = document.createElement("a"); node.textContent = m[4]; node.href = href;
          node.target = "_blank"; node.rel = "noopener noreferrer";
        } else { node = document.createTextNode(m[4]); }
      }
      else { node = document.createElement("em"); node.textContent = m[6] !== undefined ? m[6] : m[7]; }
      parent.appendChild(node);
      rest = rest.slice(m.index + m[0].length);
    }
  }

  function renderMarkdown(md, target) {
    target.textContent = "";
    var blocks = String(md || "").replace(/\r\n?/g, "\n").split(/\n{2,}/);
    blocks.forEach(function (block) {
      var lines = block.split("\n").filter(function (l) { return l.trim() !== ""; });
      if (!lines.length) { return; }
      var listy = lines.every(function (l) { return /^\s*([-*+]|\d+[.)])\s+/.test(l); });
      if (listy) {
        var ordered = /^\s*\d/.test(lines[0]);
        var list = document.createElement(ordered ? "ol" : "ul");
        lines.forEach(function (l) {
          var li = document.createElement("li");
          renderInline(l.replace(/^\s*([-*+]|\d+[.)])\s+/, ""), li);
          list.appendChild(li);
        });
        target.appendChild(list);
        return;
      }
      var p = document.createElement("p");
      lines.forEach(function (l, i) {
        if (i) { p.appendChild(document.createElement("br")); }
        renderInline(l.replace(/^#{1,6}\s+/, ""), p);
      });
      target.appendChild(p);
    });
  }

  /* ---------- API ---------- */
  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    if (cfg.token) { headers["Authorization"] = "Bearer " + cfg.token; }
    return fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) {
            var msg = (data && data.error && data.error.message) || ("HTTP " + r.status);
            throw new Error(msg);
          }
          return data;
        });
      });
  }
  function deskPath(suffix) { return "/v1/helpdesk/" + encodeURIComponent(cfg.desk) + suffix; }

  /* ---------- UI ---------- */
  function setStatus(text) { $("hd-status").textContent = text || ""; }
  function fail(err) { setStatus(t("error") + (err && err.message ? err.message : String(err))); }

  function applyLanguage() {
    document.documentElement.lang = cfg.lang === "zh" ? "zh-CN" : "en";
    Array.prototype.forEach.call(root.querySelectorAll("[data-i18n]"), function (el) {
      el.textContent = t(el.getAttribute("data-i18n"));
    });
    $("hd-question").placeholder = t("placeholder");
    $("hd-lang").textContent = t("lang");
    if (state.lastTicket) { showTicket(state.lastTicket); }
  }

  function showAnswer(res) {
    $("hd-result").hidden = false;
    var answer = $("hd-answer");
    if (res.status === "answered") {
      renderMarkdown(res.answer, answer);
      setStatus("");
    } else {
      answer.textContent = t("escalated");
      setStatus(t("ticketOpened"));
    }
    var line = $("hd-source-line"), link = $("hd-source");
    if (res.status === "answered" && res.source) {
      link.textContent = res.source.title || res.source.doc_id;
      var href = safeUrl(res.source.url) ||
        ("/v1/documents/" + encodeURIComponent(res.source.library) + "/" + encodeURIComponent(res.source.doc_id));
      link.href = href;
      line.hidden = false;
    } else { line.hidden = true; }
    $("hd-confidence").textContent = t("confidence") + ": " + Math.round((res.confidence || 0) * 100) + "%";
    $("hd-helpful").disabled = $("hd-not-helpful").disabled = res.status !== "answered";
    showAlternatives(res.alternatives || []);
    if (res.ticket_id) { loadTicket(res.ticket_id); } else { hideTicket(); }
  }

  function showAlternatives(alts) {
    var ul = $("hd-alternatives");
    ul.textContent = "";
    var faqs = alts.filter(function (a) { return a.question; });
    if (!faqs.length) { return; }
    var head = document.createElement("li");
    head.textContent = t("alternatives");
    head.className = "hd-alt-head";
    ul.appendChild(head);
    faqs.forEach(function (a) {
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.type = "button"; b.className = "hd-link-btn"; b.textContent = a.question;
      b.addEventListener("click", function () { $("hd-question").value = a.question; ask(); });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function hideTicket() {
    $("hd-ticket").hidden = true; state.ticketId = null; state.lastTicket = null;
    if (state.poll) { clearInterval(state.poll); state.poll = null; }
  }

  function showTicket(tk) {
    state.lastTicket = tk;
    $("hd-ticket").hidden = false;
    $("hd-ticket-id").textContent = String(tk.id);
    $("hd-ticket-state").textContent = (t("states")[tk.state] || tk.state);
    $("hd-ticket-state").setAttribute("data-state", tk.state);
    var ol = $("hd-messages");
    ol.textContent = "";
    (tk.messages || []).forEach(function (m) {
      var li = document.createElement("li");
      li.textContent = (t("roles")[m.role] || m.author) + ": " + m.body;
      ol.appendChild(li);
    });
  }

  function loadTicket(id) {
    state.ticketId = id;
    api("GET", "/v1/helpdesk/tickets/" + encodeURIComponent(id)).then(showTicket).catch(fail);
    if (!state.poll) {
      state.poll = setInterval(function () {
        if (state.ticketId) { api("GET", "/v1/helpdesk/tickets/" + state.ticketId).then(showTicket).catch(function () {}); }
      }, 10000);
    }
  }

  function ask(ev) {
    if (ev) { ev.preventDefault(); }
    var q = $("hd-question").value.trim();
    if (!q) { return; }
    state.question = q;
    setStatus(t("thinking"));
    $("hd-ask").disabled = true;
    api("POST", deskPath("/ask"), { question: q })
      .then(showAnswer).catch(fail)
      .then(function () { $("hd-ask").disabled = false; });
  }

  function feedback(helpful) {
    if (!state.question) { return; }
    api("POST", deskPath("/feedback"), { question: state.question, helpful: helpful })
      .then(function (res) {
        setStatus(helpful ? t("thanks") : t("ticketOpened"));
        $("hd-helpful").disabled = $("hd-not-helpful").disabled = true;
        if (res.ticket_id) { loadTicket(res.ticket_id); }
      }).catch(fail);
  }

  function askHuman() {
    var q = state.question || $("hd-question").value.trim();
    if (!q) { return; }
    api("POST", deskPath("/human"), { question: q })
      .then(function (tk) { setStatus(t("ticketOpened")); showTicket(tk); loadTicket(tk.id); })
      .catch(fail);
  }

  $("hd-form").addEventListener("submit", ask);
  $("hd-helpful").addEventListener("click", function () { feedback(true); });
  $("hd-not-helpful").addEventListener("click", function () { feedback(false); });
  $("hd-human").addEventListener("click", askHuman);
  $("hd-refresh").addEventListener("click", function () { if (state.ticketId) { loadTicket(state.ticketId); } });
  $("hd-lang").addEventListener("click", function () { cfg.lang = cfg.lang === "zh" ? "en" : "zh"; applyLanguage(); });
  applyLanguage();
  // Exposed for tests and host pages that want to reuse the renderer.
  window.kbHelpdeskWidget = { renderMarkdown: renderMarkdown, config: cfg };
})();
