// The Compose import form on /admin/blueprints: a chosen file is read into the text area (the
// form is sent as text, so it works the same when the file is pasted instead, without script).
(function () {
  "use strict";
  var input = document.getElementById("compose-file");
  var area = document.getElementById("compose");
  var name = document.getElementById("compose-file-name");
  var hint = document.getElementById("compose-file-hint");
  if (!input || !area || !window.FileReader) return;
  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (!file) return;
    if (file.size > 200 * 1024) {
      hint.textContent = "That file is larger than 200 KB: not a Compose file Wharf imports.";
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      area.value = String(reader.result);
      name.value = file.name;
      hint.textContent = "Read " + file.name + ": convert it with the button below.";
    };
    reader.onerror = function () {
      hint.textContent = "The file could not be read.";
    };
    reader.readAsText(file);
  });
})();
