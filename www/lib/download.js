// @ts-check
// Downloads made in the page: text (a report, a rules document) saved as a file through a
// blob URL and a temporary <a download>, the only way that needs no server.

/**
 * Saves `text` as a file called `name`.
 * @param {string} name the file name the browser suggests
 * @param {string} text the file's contents
 * @param {string} type its media type, e.g. "application/json"
 */
export function downloadText(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // Revoked later: some browsers read the blob after click() returns.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
