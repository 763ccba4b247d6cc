/* Organizer pages, progressive enhancement only (everything works without it):
 * - the sign-in sheet's print button (hidden until this script can print);
 * - "select all" boxes of the approval queue (hidden until this script can tick them). */
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", fn);
    } else {
      fn();
    }
  }

  onReady(function () {
    var printButtons = document.querySelectorAll("[data-print]");
    if (printButtons.length && typeof window.print === "function") {
      printButtons.forEach(function (button) {
        button.hidden = false;
        button.addEventListener("click", function () { window.print(); });
      });
      document.querySelectorAll("[data-print-hint]").forEach(function (hint) {
        hint.hidden = true;
      });
    }

    var alls = document.querySelectorAll("[data-check-all]");
    alls.forEach(function (box) {
      var wrapper = box.closest("[hidden]");
      if (wrapper) { wrapper.hidden = false; }
      var group = box.getAttribute("data-check-all");
      function members() {
        if (group === "queue") {
          return document.querySelectorAll("input[name=signup_ids]");
        }
        return document.querySelectorAll("input[data-check='" + group + "']");
      }
      box.addEventListener("change", function () {
        members().forEach(function (member) { member.checked = box.checked; });
        if (group === "queue") {
          document.querySelectorAll("[data-check-all]").forEach(function (other) {
            other.checked = box.checked;
          });
        }
      });
    });
  });
})();
