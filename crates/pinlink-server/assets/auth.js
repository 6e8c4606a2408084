// plex.tv-style approval links carry their parameters in the fragment
// (/auth#?clientID=…&code=…, also #!?…), which never reaches the server.
// Move them into the query, where the server can read them.
(function () {
  "use strict";
  var query = window.location.hash.replace(/^#!?\??/, "");
  if (query.length > 0) {
    window.location.replace("/auth?" + query);
    return;
  }
  var status = document.getElementById("status");
  if (status) {
    status.textContent = "This approval link has no code in it. Ask the app for a new link.";
  }
})();
