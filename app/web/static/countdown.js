// Counts the Hue link window down on /hue. Optional: the page shows the seconds left when it
// loads and reloads itself (meta refresh) when the window ends, with or without this script.
(function () {
  "use strict";
  var el = document.getElementById("countdown");
  if (!el) {
    return;
  }
  // Only a duration is taken from the server, so the browser's clock and time zone do not matter.
  var end = Date.now() + parseInt(el.textContent, 10) * 1000;
  var timer = setInterval(function () {
    var left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    el.textContent = String(left);
    if (left === 0) {
      clearInterval(timer);
    }
  }, 250);
})();
