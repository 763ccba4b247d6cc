// Small behaviours shared by pages, kept out of the HTML so the CSP needs no 'unsafe-inline'.
// - [data-print]: a button that opens the print dialog;
// - [data-select-all]: a read-only box whose text is selected when it gets focus;
// - [data-copy="id"]: a button that copies the box #id (then shows [data-copied]).
(function () {
  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }
  function ready() {
    each('[data-print]', function (button) {
      button.addEventListener('click', function () { window.print(); });
    });
    each('[data-select-all]', function (box) {
      box.addEventListener('focus', function () { box.select(); });
    });
    each('[data-copy]', function (button) {
      button.addEventListener('click', function () {
        var box = document.getElementById(button.getAttribute('data-copy'));
        var done = document.querySelector('[data-copied]');
        if (!box) { return; }
        box.focus(); box.select();
        function shown() { if (done) { done.hidden = false; } }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(box.value).then(shown, function () {
            if (document.execCommand('copy')) { shown(); }
          });
        } else if (document.execCommand && document.execCommand('copy')) { shown(); }
      });
    });
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', ready);
  } else {
    ready();
  }
})();
