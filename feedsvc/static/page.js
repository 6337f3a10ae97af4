// The tag page's only script, allowed by its hash in the Content-Security-Policy:
// the subscribe and embed fields select their text on focus, and the feed URL can
// be copied with one click where the clipboard API is available.
(function () {
  document.querySelectorAll("[data-select-on-focus]").forEach(function (field) {
    field.addEventListener("focus", function () { field.select(); });
  });
  var button = document.getElementById("copy-feed"), field = document.getElementById("feed-url");
  if (!button || !field || !navigator.clipboard) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(
      function () { button.textContent = "Copied"; },
      function () { field.focus(); field.select(); });
  });
})();
