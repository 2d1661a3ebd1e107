/*
 * Inloop: /company/webhooks/ highlights the signature-verification snippet. (An inline script
 * before the Content-Security-Policy, which allows none.) Loaded with `defer`, after highlight.js.
 */
(function () {
  "use strict";
  var snippet = document.getElementById("verify-snippet");
  if (snippet && window.hljs) window.hljs.highlightElement(snippet);
})();
