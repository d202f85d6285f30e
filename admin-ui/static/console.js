// Progressive enhancement for the console; every page works without it.
// - [data-copy=ID] buttons copy that input's value to the clipboard.
// - forms with [data-confirm] ask before submitting (deletes, revocations).
// - the menu (a <details>, open in the HTML) starts closed on narrow screens
//   and stays open on wide ones.
// - a link of a form's error summary moves focus to the field its message
//   describes (without script it scrolls to the message under the field).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  input.select();
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(input.value).then(done, () => { document.execCommand("copy"); done(); });
  } else {
    document.execCommand("copy");
    done();
  }
});
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
});
const menu = document.getElementById("menu");
if (menu) {
  const narrow = window.matchMedia("(max-width: 700px)");
  const fit = () => { menu.open = !narrow.matches; };
  fit();
  narrow.addEventListener("change", fit);
}
document.addEventListener("click", (event) => {
  const link = event.target.closest(".error-summary a[href^='#']");
  if (!link) return;
  const field = document.querySelector(`[aria-describedby~="${CSS.escape(link.hash.slice(1))}"]`);
  if (!field) return;
  event.preventDefault();
  field.focus();
  field.scrollIntoView({ block: "center" });
});
// - a select[data-versions-of=ID] offers only the optgroup of the plugin
//   chosen in the select ID (a new binding's version); the server checks
//   the pair either way.
const versionsOf = (select) => {
  const plugin = document.getElementById(select.dataset.versionsOf);
  if (!plugin) return;
  for (const group of select.querySelectorAll("optgroup")) {
    const mine = group.dataset.plugin === plugin.value;
    group.hidden = !mine;
    group.disabled = !mine;
  }
  if (select.selectedOptions[0] && select.selectedOptions[0].parentElement.disabled) select.value = "";
};
for (const select of document.querySelectorAll("select[data-versions-of]")) {
  versionsOf(select);
  document.getElementById(select.dataset.versionsOf)?.addEventListener("change", () => versionsOf(select));
}
