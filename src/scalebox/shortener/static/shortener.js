// shortener: small progressive enhancements. Every page works without this file.
// Copy buttons (hidden until this runs) copy a short URL or a new API key to the clipboard.
(function () {
  "use strict";

  function announce(message) {
    var status = document.getElementById("copy-status");
    if (status) { status.textContent = message; }
  }

  function copyText(button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target) { return; }
    var text = (target.getAttribute("href") || target.textContent).trim();
    var label = button.textContent;
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
      announce("Copied " + text + " to the clipboard");
      setTimeout(function () { button.textContent = label; }, 1500);
    }, function () {
      announce("Copying failed; select the text and copy it by hand");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!navigator.clipboard) { return; }  // plain HTTP on another host: no clipboard API, no buttons
    document.querySelectorAll("button.js-copy").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { copyText(button); });
    });
  });
})();
