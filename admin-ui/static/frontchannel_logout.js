// OpenID Connect Front-Channel Logout: once every application's logout page
// has loaded (or after three seconds, for one that never answers), go on to
// the application's return address, if there is one.
(function () {
  var frames = document.querySelectorAll("iframe.frontchannel");
  var next = document.getElementById("continue");
  var pending = frames.length;
  var gone = false;
  function proceed() {
    if (gone || !next) { return; }
    gone = true;
    window.location.assign(next.getAttribute("href"));
  }
  frames.forEach(function (frame) {
    frame.addEventListener("load", function () {
      pending -= 1;
      if (pending <= 0) { proceed(); }
    });
  });
  window.setTimeout(proceed, 3000);
})();
