// pastebin: small progressive enhancements. Every page works without this file.
// Copy buttons (hidden until this runs), Ctrl/Cmd+Enter submits the editor, Tab indents in the editor.
(function () {
  "use strict";

  function announce(message) {
    var status = document.getElementById("copy-status");
    if (status) { status.textContent = message; }
  }

  function copyText(button) {
    var target = document.getElementById(button.getAttribute("data-copy-target"));
    if (!target || !navigator.clipboard) { return; }
    // Highlighted files: copy the code cell only, never the line numbers.
    var code = target.querySelector("td.code code") || target;
    var text = code.textContent;
    // Pygments ends every render with a newline; drop it when the paste had none.
    if (button.hasAttribute("data-copy-trim-newline") && text.slice(-1) === "\n") { text = text.slice(0, -1); }
    var label = button.textContent;
    navigator.clipboard.writeText(text).then(function () {
      button.textContent = "Copied";
      announce("Copied to the clipboard");
      setTimeout(function () { button.textContent = label; }, 1500);
    }, function () {
      announce("Copying failed; select the text and copy it by hand");
    });
  }

  function enableCopyButtons() {
    if (!navigator.clipboard) { return; }
    document.querySelectorAll("button.js-copy").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { copyText(button); });
    });
  }

  function insertTab(area) {
    var start = area.selectionStart, end = area.selectionEnd;
    area.setRangeText("\t", start, end, "end");
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function enhanceEditor() {
    var form = document.getElementById("editor");
    if (!form) { return; }
    var escaped = false;  // Esc, then Tab, leaves the textarea: keyboard users are never trapped
    form.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
        return;
      }
      if (event.target.tagName !== "TEXTAREA") { return; }
      if (event.key === "Escape") { escaped = true; return; }
      if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.altKey && !event.metaKey && !escaped) {
        event.preventDefault();
        insertTab(event.target);
      }
      escaped = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    enableCopyButtons();
    enhanceEditor();
  });
})();
