/* feedsvc headlines widget. Paste, once or once per widget:
   <div data-feedsvc-tag="TAG" data-limit="5" data-images></div>
   <script src="https://OUR-HOST/embed.js" async></script>
   An empty data-feedsvc-tag shows the site's headlines. Rendered in a shadow root;
   text is only ever inserted as text; a failed request leaves a plain link. */
(function () {
  "use strict";
  var me = document.currentScript || document.querySelector('script[src$="/embed.js"]');
  if (!me || !window.fetch) return;
  var base = new URL("./", me.src).href;
  var css =
    ":host{display:block}" +
    // all:initial stops inheritance from the page; inline-block stops the page's
    // text-decoration, which propagates into descendants without being inherited.
    ".w{all:initial;display:inline-block;vertical-align:top;box-sizing:border-box;width:100%;" +
    "font:14px/20px var(--feedsvc-font,system-ui,sans-serif);color:var(--feedsvc-color,#1d1d1f);" +
    "background:var(--feedsvc-background,#fff);border:1px solid #ddd;border-radius:8px;padding:12px 14px}" +
    ".f{border:0;padding:0;background:none}" +
    "a{color:var(--feedsvc-link,#0b57d0);text-decoration:none}a:hover{text-decoration:underline}" +
    ".h{display:block;font-weight:700;font-size:15px;color:inherit;padding-bottom:6px;" +
    "border-bottom:2px solid var(--feedsvc-link,#0b57d0)}" +
    "ol{list-style:none;margin:0;padding:0}" +
    "li{display:flex;gap:10px;align-items:flex-start;padding:8px 0;border-top:1px solid #eee}" +
    "li:first-child{border-top:0}li a{font-weight:600}" +
    "time{display:block;color:#666;font-size:12px;line-height:16px;margin-top:2px}" +
    "img{flex:none;width:56px;height:56px;object-fit:cover;border-radius:4px;background:#eee}" +
    ".more{display:inline-block;margin-top:8px;font-size:13px}";

  function el(name, cls, text) {
    var node = document.createElement(name);
    if (cls) node.className = cls;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function link(href, cls, text) {
    var a = el("a", cls, text);
    if (/^https?:\/\//i.test(href)) a.href = href;
    return a;
  }

  function day(value) {
    var date = new Date(value);
    return isNaN(date) ? "" : date.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  }

  function draw(data, images) {
    var box = el("div", "w"), list = el("ol");
    box.appendChild(link(data.link, "h", data.label));
    (data.items || []).forEach(function (item) {
      var li = el("li"), text = el("div");
      if (images && item.image && /^https?:\/\//i.test(item.image)) {
        var img = el("img");
        img.alt = "";
        img.loading = "lazy";
        img.src = item.image;
        li.appendChild(img);
      }
      text.appendChild(link(item.url, "", item.title));
      var time = el("time", "", day(item.date));
      time.dateTime = item.date;
      text.appendChild(time);
      li.appendChild(text);
      list.appendChild(li);
    });
    if (!list.firstChild) list.appendChild(el("li", "", "No headlines yet."));
    box.appendChild(list);
    box.appendChild(link(data.link, "more", "More from " + data.site.name + " \u2192"));
    return box;
  }

  function mount(host) {
    var tag = host.getAttribute("data-feedsvc-tag") || "", root;
    try {
      root = host.attachShadow({ mode: "open" });
    } catch (e) {
      return; // not a container element, or already rendered by another copy of this script
    }
    var scope = tag ? "tags/" + encodeURIComponent(tag) + "/" : "";
    var limit = host.getAttribute("data-limit") || "";
    var fallback = el("div", "w f");
    fallback.appendChild(link(base + scope, "", tag ? "Latest headlines: " + tag : "Latest headlines"));
    root.appendChild(el("style", "", css));
    root.appendChild(fallback);
    fetch(base + scope + "headlines.json" + (/^\d{1,4}$/.test(limit) ? "?limit=" + limit : ""), {
      credentials: "omit"
    })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (data) {
        root.replaceChild(draw(data, host.hasAttribute("data-images")), fallback);
      })
      .catch(function () {}); // the plain link stays
  }

  function scan() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-feedsvc-tag]"), function (host) {
      if (!host.shadowRoot) mount(host);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", scan);
  else scan();
})();
