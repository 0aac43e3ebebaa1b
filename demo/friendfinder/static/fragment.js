// The implicit grant returns the access token in the fragment of the
// address (after "#"), which the browser never sends to a server. This
// script reads it, takes it out of the address bar and the history, and
// posts it to Grant Lab's server so that the next page can show the steps.
// Without JavaScript, the page's form lets the person paste it instead.
(function () {
  "use strict";
  var form = document.getElementById("fragment-form");
  var fragment = window.location.hash.slice(1);
  if (!form || !fragment) {
    return;
  }
  window.history.replaceState(null, "", window.location.pathname);
  form.elements.fragment.value = fragment;
  form.submit();
})();
