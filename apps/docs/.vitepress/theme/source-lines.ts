// On a /source/ page, `#L12-L40` marks lines 12 to 40 and scrolls to the first one
// (a single `#L12` needs nothing: the line's id is the anchor and CSS :target marks it).
export function highlightSourceLines(): void {
  if (!location.pathname.includes('/source/')) return;
  const match = /^#L(\d+)-L(\d+)$/.exec(location.hash);
  requestAnimationFrame(() => {
    for (const line of document.querySelectorAll('.source-code .line.source-target')) line.classList.remove('source-target');
    if (!match) return;
    const first = Number(match[1]);
    const last = Number(match[2]);
    for (let n = first; n <= last; n++) document.getElementById(`L${n}`)?.classList.add('source-target');
    document.getElementById(`L${first}`)?.scrollIntoView({ block: 'start' });
  });
}
