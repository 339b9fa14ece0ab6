// cutover serve: keep the live table current without reloading the page.
// The server sends the store's version over server-sent events (/events) when it changes;
// the page then fetches its own `live` fragment and swaps it in, keeping which sections the
// reader opened.  Nothing runs while the tab is hidden: the event stream is closed and
// reopened on return, and the first event after reopening says whether anything changed.
// If the stream fails for good (a proxy answering 502 while the server restarts), the page
// says so and tries again every few seconds.
// The as-of slider moves over the recorded evaluations and shows the chosen one.
"use strict";
(function () {
  var body = document.body;
  var live = document.getElementById("live");
  var fragment = live && live.getAttribute("data-fragment");
  var source = null;
  var retry = null;
  var busy = false;
  var again = false;

  // The live-state line says when the stream is down (its text, in the page's language, is
  // in data-reconnecting) and goes back to what it said once an event arrives.
  function lost(down) {
    var line = document.getElementById("live-state");
    if (!line) { return; }
    if (down && !line.hasAttribute("data-saved")) {
      line.setAttribute("data-saved", line.textContent);
      line.textContent = line.getAttribute("data-reconnecting") || "…";
    } else if (!down && line.hasAttribute("data-saved")) {
      line.textContent = line.getAttribute("data-saved");
      line.removeAttribute("data-saved");
    }
  }

  function openSections() {
    var open = {};
    live.querySelectorAll("details[id]").forEach(function (d) { open[d.id] = d.open; });
    return open;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    live.setAttribute("aria-busy", "true");
    fetch(fragment, { headers: { "Accept": "text/html" }, cache: "no-cache", credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        var version = response.headers.get("X-Cutover-Version");
        return response.text().then(function (html) {
          var open = openSections();
          live.innerHTML = html;
          Object.keys(open).forEach(function (id) {
            var d = document.getElementById(id);
            if (d && d.tagName === "DETAILS") { d.open = open[id]; }
          });
          bindPicker();
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
    if (source || retry || !fragment || !window.EventSource) { return; }
    source = new EventSource("/events");
    source.addEventListener("version", function (event) {
      lost(false);
      if (event.data !== body.getAttribute("data-version")) { refresh(); }
    });
    source.addEventListener("error", function () {
      // A network error makes the browser retry by itself; an HTTP error closes the stream.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        lost(true);
        retry = setTimeout(function () {
          retry = null;
          if (!document.hidden) { open(); }
        }, 2000 + Math.random() * 3000);
      }
    });
  }

  function close() {
    if (source) { source.close(); source = null; }
    if (retry) { clearTimeout(retry); retry = null; }
  }

  function bindPicker() {
    var slider = document.getElementById("as-of-slider");
    var select = document.getElementById("as-of-select");
    if (!slider || !select) { return; }
    slider.addEventListener("input", function () { select.selectedIndex = Number(slider.value); });
    slider.addEventListener("change", function () {
      select.selectedIndex = Number(slider.value);
      select.form.submit();
    });
    select.addEventListener("change", function () { slider.value = String(select.selectedIndex); });
  }

  bindPicker();
  if (fragment) {
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { close(); } else { open(); }
    });
    window.addEventListener("pagehide", close);
    if (!document.hidden) { open(); }
  }
})();
