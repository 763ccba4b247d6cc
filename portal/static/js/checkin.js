// The check-in screen at the gate: fetch the current link every ~20 s and show it without a
// reload. Without JavaScript the page reloads itself every minute (<noscript> refresh).
(function () {
  "use strict";
  var root = document.querySelector("[data-checkin-screen]");
  if (!root || !window.fetch) { return; }
  var url = root.getAttribute("data-checkin-screen");
  var every = (parseInt(root.getAttribute("data-refresh"), 10) || 20) * 1000;
  var qr = root.querySelector("[data-qr]");
  var link = root.querySelector("[data-link]");
  var counts = root.querySelector("[data-counts]");
  var message = root.querySelector("[data-message]");
  var failures = 0;

  function show(data) {
    if (data.svg) {
      qr.innerHTML = data.svg;  // segno's SVG, built by the server
      qr.hidden = false;
    } else {
      qr.innerHTML = "";
      qr.hidden = true;
    }
    link.hidden = !data.link;
    link.textContent = data.link || "";
    link.setAttribute("href", data.link || "");
    counts.textContent = data.counts;
    message.textContent = data.message;
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (data) { failures = 0; show(data); })
      .catch(function () {
        // Keep the last code and try again; after a few misses (signed out, server restarted)
        // a full reload shows the login page or a fresh screen instead of a stale code.
        failures += 1;
        if (failures >= 3) { window.location.reload(); }
      })
      .then(function () { window.setTimeout(refresh, every); });
  }

  window.setTimeout(refresh, every);
})();
