/** How every message names the forms consul.address and CONSUL_HTTP_ADDR accept. */
export const CONSUL_ADDRESS_FORMS = "host:port, http://host:port, https://host:port or unix:///path/to/socket";

/**
 * Consul's address forms: `host:port` (scheme from CONSUL_HTTP_SSL, else
 * http), `http://host:port`, `https://host:port`, `unix:///path/to/socket`.
 * Returns the normalised URL, or undefined when the text is none of those.
 */
export function normaliseConsulAddress(text: string, defaultScheme: "http" | "https" = "http"): string | undefined {
  const trimmed = text.trim();
  const unix = /^unix:\/\/(\/[^\s]*[^\s/])\/?$/.exec(trimmed);
  if (unix) return `unix://${unix[1] ?? ""}`;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `${defaultScheme}://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if ((url.protocol !== "http:" && url.protocol !== "https:") || url.hostname === "" || url.pathname !== "/" || url.search !== "" || url.username !== "") return undefined;
  return `${url.protocol}//${url.host}`;
}
