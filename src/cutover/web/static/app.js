// cutover serve: keep the live table current without reloading the page.
// The server sends the store's version over server-sent events (/events) when it changes;
// the page then fetches its own `live` fragment (a conditional request) and swaps it in.
// Nothing runs while the tab is hidden: the event stream is closed and reopened on return,
// and the first event after reopening says whether anything changed meanwhile.
// The as-of slider moves over the recorded evaluations and shows the chosen one.
"use strict";
(function () {
  var body = document.body;
  var live = document.getElementById("live");
  var fragment = live && live.getAttribute("data-fragment");
  var source = null;
  var busy = false;
  var again = false;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    live.setAttribute("aria-busy", "true");
    fetch(fragment, { headers: { "Accept": "text/html" }, cache: "no-cache", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        var version = response.headers.get("X-Cutover-Version");
        return response.text().then(function (html) {
          live.innerHTML = html;
          if (version) { body.setAttribute("data-version", version); }
          body.setAttribute("data-refreshed", String(Date.now()));
        });
      })
      .catch(function () { /* the next change event tries again */ })
      .then(function () {
        busy = false;
        live.removeAttribute("aria-busy");
        if (again) { again = false; refresh(); }
      });
  }

  function open() {
    if (source || !fragment || !window.EventSource) { return; }
    source = new EventSource("/events");
    source.addEventListener("version", function (event) {
      if (event.data !== body.getAttribute("data-version")) { refresh(); }
    });
  }

  function close() {
    if (source) { source.close(); source = null; }
  }

  if (fragment) {
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { close(); } else { open(); }
    });
    window.addEventListener("pagehide", close);
    if (!document.hidden) { open(); }
  }

  var slider = document.getElementById("as-of-slider");
  var select = document.getElementById("as-of-select");
  if (slider && select) {
    slider.addEventListener("input", function () { select.selectedIndex = Number(slider.value); });
    slider.addEventListener("change", function () { select.form.submit(); });
    select.addEventListener("change", function () { slider.value = String(select.selectedIndex); });
  }
})();
