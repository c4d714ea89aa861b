// A job's panel: its log lines, read when the panel's "log lines" is opened (the same lines as
// its logs page and `cronlane logs`).
document.addEventListener("toggle", async (event) => {
  const details = event.target;
  if (!(details instanceof HTMLDetailsElement) || !details.open || !details.dataset.src || details.dataset.read) return;
  details.dataset.read = "1";
  try {
    const answer = await fetch(details.dataset.src, { cache: "no-store" });
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").querySelector("pre.logs");
    if (fresh) details.querySelector("pre.logs").replaceWith(fresh);
  } catch (e) { details.querySelector("pre.logs").textContent = "the logs could not be read"; }
}, true);

// Short polling: a page showing something still going asks for itself again every few seconds
// and swaps its <main> in; it stops once the page says nothing is going (no data-poll).
(function () {
  const main = document.querySelector("main[data-poll]");
  if (!main) return;
  const every = Number(main.dataset.poll) || 3000;
  async function tick() {
    try {
      const answer = await fetch(location.pathname + location.search, { cache: "no-store" });
      if (answer.ok) {
        const fresh = new DOMParser().parseFromString(await answer.text(), "text/html").querySelector("main");
        if (fresh) {
          // the log panels a reader opened stay open, and read their lines again
          const open = [...main.querySelectorAll("details[open][data-src]")].map((d) => d.dataset.src);
          main.innerHTML = fresh.innerHTML;
          for (const d of main.querySelectorAll("details[data-src]")) {
            if (open.includes(d.dataset.src)) d.open = true;
          }
          if (!fresh.hasAttribute("data-poll")) { main.removeAttribute("data-poll"); return; }
        }
      }
    } catch (e) { /* the server is away a moment: try again */ }
    setTimeout(tick, every);
  }
  setTimeout(tick, every);
})();
