// Says so when the live panels stop refreshing (the console or the network went away), so that
// nobody trusts figures that are no longer updated.
(function () {
  "use strict";
  var lastOk = Date.now();
  function panel() { return document.getElementById("live"); }
  function period() {
    var p = panel();
    return p ? (parseFloat(p.getAttribute("data-refresh")) || 5) * 1000 : 0;
  }
  function show(on) {
    document.body.classList.toggle("disconnected", on);
    var banner = document.getElementById("disconnected");
    if (banner) { banner.hidden = !on; }
  }
  document.addEventListener("htmx:afterSwap", function () { lastOk = Date.now(); show(false); });
  ["htmx:sendError", "htmx:responseError", "htmx:timeout"].forEach(function (name) {
    document.addEventListener(name, function () { show(true); });
  });
  setInterval(function () {
    var every = period();
    if (every && Date.now() - lastOk > 3 * every) { show(true); }
  }, 1000);
}());
