// Keeps embargo countdowns current while a page stays open; the server-rendered text is the
// fallback. Writes textContent only, never HTML.
"use strict";
(function () {
  function span(seconds) {
    var s = Math.abs(Math.floor(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
    if (d) return h ? d + "d " + h + "h" : d + "d";
    if (h) return m ? h + "h " + m + "m" : h + "h";
    if (m) return m + "m";
    return "under a minute";
  }
  function tick() {
    var clocks = document.querySelectorAll("time.countdown");
    for (var i = 0; i < clocks.length; i++) {
      var until = Date.parse(clocks[i].getAttribute("datetime"));
      if (isNaN(until)) continue;
      var left = (until - Date.now()) / 1000;
      clocks[i].textContent = left > 0 ? "in " + span(left) : "lifted " + span(left) + " ago";
    }
  }
  tick();
  setInterval(tick, 30000);
})();
