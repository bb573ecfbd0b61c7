/**
 * A URL as it may be shown to an operator: the user:password part is already
 * removed by the sender; query-string values (often `?token=…` or `?api_key=…`)
 * are replaced by `<secret>`, as Prometheus shows secrets in its config page.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url;
  }
  u.username = "";
  u.password = "";
  if (u.search === "") return u.toString();
  const keys = [...u.searchParams.keys()];
  const q = keys.map((k) => `${encodeURIComponent(k)}=<secret>`).join("&");
  u.search = "";
  return `${u.toString()}?${q}`;
}
