// Polls for the card's approval and then submits the page's form, so that
// a person who approved on the card app need not press anything. Without
// JavaScript the button does the same.
(function () {
  "use strict";
  var box = document.querySelector(".challenge[data-poll]");
  if (!box) { return; }
  var url = box.getAttribute("data-poll");
  var form = document.getElementById(box.getAttribute("data-form"));
  var done = false;
  function poll() {
    if (done) { return; }
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : { state: "unknown" }; })
      .then(function (s) {
        // Approved: take it. Refused (a card signed another number): the
        // form's answer says so.
        if ((s.state === "approved" || s.state === "refused") && form) { done = true; form.submit(); }
        else if (s.state === "expired" || s.state === "used" || s.state === "unknown") { done = true; }
        else { window.setTimeout(poll, 1500); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1500);
}());
