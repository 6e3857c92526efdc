/**
 * The explorer's security headers (docs/design.md "Explorer"): a strict Content-Security-Policy per page
 * that allows exactly the page's own inline script and stylesheet (by their SHA-256), nothing from
 * elsewhere, and no framing; and the check that turns away API requests another site's page sends.
 */
import { createHash } from 'node:crypto';

/** Headers on every answer, pages and JSON alike. */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
} as const;

/** 'sha256-…' of every inline `<tag>` body in `html`. */
function inlineHashes(html: string, tag: 'script' | 'style'): string[] {
  const re = new RegExp(`<${tag}\\b[^>]*>([\\s\\S]*?)</${tag}>`, 'g');
  return [...html.matchAll(re)].map((m) => `'sha256-${createHash('sha256').update(m[1]!, 'utf8').digest('base64')}'`);
}

/**
 * The CSP for one page: its inline scripts and styles by hash, images from data: URLs (the test images
 * are PNG data URLs), fetches to this server only, no plugins, base, forms or framing.
 */
export function pagePolicy(html: string): string {
  return [
    "default-src 'none'",
    `script-src ${inlineHashes(html, 'script').join(' ')}`,
    `style-src ${inlineHashes(html, 'style').join(' ')}`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The policy for JSON answers: nothing may run or load, nothing may frame them. */
export const API_POLICY = "default-src 'none'; frame-ancestors 'none'";

/**
 * Whether a request may come from where it says: browsers send `Sec-Fetch-Site` (same-origin for the
 * page's own fetches, none for a typed URL) and `Origin` on cross-origin fetches; another site's page
 * gets 403. Clients that send neither (curl, scripts) are allowed: they are not a browser being abused.
 */
export function crossSite(
  headers: { origin?: string | undefined; 'sec-fetch-site'?: string | string[] | undefined },
  ownOrigins: readonly string[],
): string | undefined {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `Sec-Fetch-Site '${String(site)}'`;
  const origin = headers.origin;
  if (origin !== undefined && !ownOrigins.includes(origin)) return `Origin '${origin}'`;
  return undefined;
}
