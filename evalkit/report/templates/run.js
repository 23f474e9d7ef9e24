"use strict";
// Per-run page: "only images that fail a metric" toggles a class on its checkpoint section.
document.querySelectorAll("input.only-failing").forEach(function (box) {
  box.addEventListener("change", function () {
    box.closest("section.checkpoint").classList.toggle("only-failing", box.checked);
  });
});
