/* Reseller panel: small progressive enhancements. Every page works without. */
(function () {
  "use strict";

  function formatMinor(minor, places, currency, locale) {
    var negative = minor < 0n;
    var digits = (negative ? -minor : minor).toString().padStart(places + 1, "0");
    var whole = digits.slice(0, digits.length - places) || "0";
    var fraction = places ? "." + digits.slice(digits.length - places) : "";
    var value = (negative ? "-" : "") + whole + fraction;
    try {
      return new Intl.NumberFormat(locale, {
        style: "currency", currency: currency,
        minimumFractionDigits: places, maximumFractionDigits: places,
      }).format(value);
    } catch (e) {
      return value + " " + currency;
    }
  }

  function initSelection(form) {
    var boxes = Array.prototype.slice.call(
      form.querySelectorAll('input[type=checkbox][name=document]'));
    var all = form.querySelector("#select-all");
    var output = form.querySelector("#selection-total");
    var line = form.querySelector(".selection-total");
    var currency = form.dataset.currency;
    var locale = form.dataset.locale || document.documentElement.lang || "en-US";
    var places = parseInt(form.dataset.places || "2", 10);

    function update() {
      var total = 0n;
      var count = 0;
      boxes.forEach(function (box) {
        if (box.checked) {
          total += BigInt(box.dataset.minor);  /* exact: minor units */
          count += 1;
        }
      });
      output.textContent = formatMinor(total, places, currency, locale) +
        " (" + count + ")";
      if (all) {
        all.checked = count > 0 && count === boxes.length;
        all.indeterminate = count > 0 && count < boxes.length;
      }
    }

    if (all) {
      all.hidden = false;
      all.addEventListener("change", function () {
        boxes.forEach(function (box) { box.checked = all.checked; });
        update();
      });
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    if (line) { line.hidden = false; }
    update();
  }

  function initPreview(form) {
    var box = form.querySelector("#use-credit");
    var button = form.querySelector("#update-preview");
    if (!box) { return; }
    box.addEventListener("change", function () { form.submit(); });
    if (button) { button.classList.add("js-optional"); }
  }

  function initCardField(form) {
    var field = form.querySelector("#card-field");
    var radios = form.querySelectorAll("input[name=payment_method]");
    if (!field || !radios.length) { return; }
    function update() {
      var card = form.querySelector("#method-card");
      field.hidden = !(card && card.checked);
    }
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener("change", update);
    });
    update();
  }

  /* A second click while the first submit is on its way does nothing; the
     server would pay once anyway (same idempotency key). */
  function initSubmitOnce(form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.submitted) {
        event.preventDefault();
        return;
      }
      form.dataset.submitted = "1";
      var button = form.querySelector("button[type=submit]");
      if (button) { button.setAttribute("aria-disabled", "true"); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var selection = document.getElementById("selection-form");
    if (selection) { initSelection(selection); }
    var preview = document.getElementById("preview-form");
    if (preview) { initPreview(preview); }
    var confirm = document.getElementById("confirm-form");
    if (confirm) {
      initCardField(confirm);
      initSubmitOnce(confirm);
    }
  });
})();
