// Progressive enhancement for the console; every page works without it.
// - [data-copy=ID] buttons copy that input's value to the clipboard.
// - forms with [data-confirm] ask before submitting (deletes, revocations).
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
