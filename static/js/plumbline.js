/* Plumbline's page behaviour. Served from static/ so the Content-Security-Policy
 * can forbid inline script; nothing here is needed for the pages to work
 * without JavaScript. */
(function () {
  "use strict";

  /* Toasts: short messages about an action that has no field to point at
   * (bulk actions, refusals, lost connections). They stay until closed. */
  function toastRegion() {
    return document.getElementById("toasts");
  }

  function showToast(text, kind) {
    var region = toastRegion();
    if (!region) return;
    var toast = document.createElement("div");
    toast.className = "toast " + (kind || "error");
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    var body = document.createElement("span");
    body.className = "toast-text";
    body.textContent = text;
    toast.appendChild(body);
    region.appendChild(toast);
    addCloseButton(toast);
  }

  function addCloseButton(toast) {
    if (toast.querySelector(".toast-close")) return;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    toast.appendChild(close);
  }

  document.addEventListener("click", function (event) {
    var close = event.target.closest(".toast-close");
    if (close) close.closest(".toast").remove();
  });

  /* The one htmx error path. A 4xx answer carries a fragment with its
   * message (the form with the field's error, or a toast the server aimed at
   * #toasts with HX-Retarget), so it is swapped like a success. Anything
   * else that fails becomes a toast, so no refusal is ever silent. */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 400 && status < 500) {
      if (event.detail.serverResponse && event.detail.serverResponse.trim()) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
      } else {
        event.detail.shouldSwap = false;
        showToast("The server refused this (" + status + ").", "error");
      }
    }
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status >= 500) {
      showToast(
        "Something went wrong on the server (" + status + "). Nothing was changed; try again.",
        "error"
      );
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showToast("The server could not be reached. Check your connection and try again.", "error");
  });

  /* After a swap, move focus to the first field marked invalid, so the eye
   * and the keyboard land on what needs correcting. */
  document.addEventListener("htmx:afterSwap", function (event) {
    var bad = event.detail.target && event.detail.target.querySelector
      ? event.detail.target.querySelector("[aria-invalid='true']")
      : null;
    if (!bad && event.detail.elt && event.detail.elt.querySelector) {
      bad = event.detail.elt.querySelector("[aria-invalid='true']");
    }
    if (bad) bad.focus();
    setBars(document);
    document.querySelectorAll("#toasts .toast").forEach(addCloseButton);
  });

  /* Progress bars: their width follows aria-valuenow (no inline styles). */
  function setBars(root) {
    root.querySelectorAll(".progress[aria-valuenow] > span").forEach(function (bar) {
      var value = bar.parentElement.getAttribute("aria-valuenow");
      bar.style.width = Math.max(0, Math.min(100, Number(value) || 0)) + "%";
    });
  }

  /* Copy buttons (fix SQL). */
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(document.querySelector(button.dataset.copy).innerText).then(function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    });
  });

  /* Bulk selection: the header box selects the page; the counter says how many. */
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.id === "select-page") {
      document.querySelectorAll("input.row-select").forEach(function (box) { box.checked = el.checked; });
    }
    if (el.id === "select-page" || el.classList.contains("row-select") || el.id === "scope-matching") {
      var count = document.querySelectorAll("input.row-select:checked").length;
      var all = document.getElementById("scope-matching");
      var label = document.getElementById("selected-count");
      if (label) {
        label.textContent = all && all.checked ? "All matching selected" : (count ? count + " selected" : "None selected");
      }
    }
  });

  /* Confirmations that need a typed name (deleting a project): the button
   * wakes up only when the name matches. */
  document.addEventListener("input", function (event) {
    var input = event.target.closest("[data-confirm-name]");
    if (!input) return;
    var button = input.form && input.form.querySelector("[data-confirm-button]");
    if (button) button.disabled = input.value !== input.dataset.confirmName;
  });

  function ready() {
    setBars(document);
    document.querySelectorAll("#toasts .toast").forEach(addCloseButton);
    /* A full page that comes back with errors (a plain form POST) puts
     * focus on its first bad field. */
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      /* The summary stays in view at the top; the keyboard is already on
       * the first field to correct. */
      var first = document.querySelector("[aria-invalid='true']");
      (first || summary).focus({ preventScroll: true });
      summary.scrollIntoView({ block: "start" });
    }
    document.querySelectorAll("[data-confirm-name]").forEach(function (input) {
      var button = input.form && input.form.querySelector("[data-confirm-button]");
      if (button) button.disabled = input.value !== input.dataset.confirmName;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }

  window.plumbline = { showToast: showToast };
})();
