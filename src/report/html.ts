/**
 * HTML building blocks of the report page: escaping, tables, notices, figure blocks and the page shell
 * with its inline stylesheet. The page is self-contained (no scripts, fonts or network): figures are
 * embedded as SVG data URIs, which also keeps each figure's element ids (clip paths) from colliding.
 */

/** Text made safe for HTML element content and attribute values. */
export function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');
}

/** Inline `code` spans (backticks) in an already escaped string become <code> elements. */
function withCode(escaped: string): string {
  return escaped.replace(/`([^`]+)`/g, '<code>$1</code>');
}

/** A cell: plain text is escaped; `{ html }` is inserted as is. Numeric text is right-aligned. */
export type Cell = string | number | { html: string };

function cell(c: Cell, tag: 'td' | 'th'): string {
  if (typeof c === 'number') return `<${tag} class="num">${esc(String(c))}</${tag}>`;
  // Numbers, signed deltas and "a → b" pairs line up on the right.
  if (typeof c === 'string') return `<${tag}${/^[−+-]?\d/.test(c) ? ' class="num"' : ''}>${esc(c)}</${tag}>`;
  return `<${tag}>${c.html}</${tag}>`;
}

/** A table with a header row; the first column of each body row is a row header. */
export function table(header: Cell[], rows: Cell[][], caption?: string): string {
  const head = `<thead><tr>${header.map((h) => cell(h, 'th')).join('')}</tr></thead>`;
  const body = rows.map((r) => `<tr>${r.map((c, i) => cell(c, i === 0 ? 'th' : 'td')).join('')}</tr>`).join('\n');
  return `<table>${caption === undefined ? '' : `<caption>${withCode(esc(caption))}</caption>`}${head}<tbody>\n${body}\n</tbody></table>`;
}

/** A plainly worded box for a stage that has not produced its output yet (backticks become code). */
export function notice(message: string, kind: 'missing' | 'incomplete' | 'invalid' = 'missing'): string {
  return `<p class="notice ${kind}">${withCode(esc(message))}</p>`;
}

/** A paragraph of plain text (escaped; backticks become code), e.g. the controls' statement. */
export function paragraph(text: string, cls?: string): string {
  return `<p${cls === undefined ? '' : ` class="${esc(cls)}"`}>${withCode(esc(text))}</p>`;
}

/** A figure: the SVG inline as a data URI, its one-sentence caption, and links to the SVG/PNG files. */
export function figureBlock(f: { name: string; title: string; caption: string; svg: string }): string {
  const uri = `data:image/svg+xml;base64,${Buffer.from(f.svg, 'utf8').toString('base64')}`;
  return `<figure id="${esc(f.name)}">
<h3>${esc(f.title)}</h3>
<img src="${uri}" alt="${esc(f.title)}">
<figcaption>${esc(f.caption)} <span class="files">Files: <a href="figures/${esc(f.name)}.svg">${esc(f.name)}.svg</a> · <a href="figures/${esc(f.name)}.png">${esc(f.name)}.png</a></span></figcaption>
</figure>`;
}

/** Collapsible pretty-printed JSON. */
export function jsonDetails(summary: string, value: unknown): string {
  return `<details><summary>${esc(summary)}</summary><pre>${esc(JSON.stringify(value, null, 2))}</pre></details>`;
}

/** A section with a heading and an id for the table of contents. */
export function section(id: string, heading: string, body: string): string {
  return `<section id="${esc(id)}">\n<h2>${esc(heading)}</h2>\n${body}\n</section>`;
}

const CSS = `
:root { --fg: #1d1d1f; --muted: #5c5c66; --line: #dedee3; --accent: #1f5fa8; --bg-soft: #f6f7f9; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--fg); background: #fff; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 32px 64px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
header p { margin: 2px 0; color: var(--muted); }
nav { margin: 18px 0 8px; padding: 10px 14px; background: var(--bg-soft); border-radius: 6px; font-size: 14px; }
nav a { margin-right: 14px; white-space: nowrap; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
h2 { font-size: 20px; margin: 40px 0 10px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 0 0 10px; }
figure { margin: 18px 0 28px; padding: 16px; border: 1px solid var(--line); border-radius: 8px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { margin-top: 10px; font-size: 14px; color: var(--muted); }
figcaption .files { white-space: nowrap; margin-left: 6px; font-size: 13px; }
table { border-collapse: collapse; margin: 12px 0 22px; font-size: 14px; min-width: 420px; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 6px; }
th, td { padding: 5px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
thead th { background: var(--bg-soft); border-bottom: 2px solid var(--line); }
tbody th { font-weight: normal; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.notice { padding: 10px 14px; border-radius: 6px; border-left: 4px solid #c98a00; background: #fff7e0; }
.notice.invalid { border-left-color: #b3261e; background: #fdecea; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 13px; background: var(--bg-soft); padding: 1px 4px; border-radius: 3px; }
details { margin: 8px 0 16px; }
summary { cursor: pointer; font-weight: bold; }
pre { background: var(--bg-soft); padding: 12px; border-radius: 6px; overflow: auto; font-size: 12px; max-height: 480px; }
ul.status { list-style: none; padding: 0; margin: 8px 0; }
ul.status li { margin: 2px 0; }
.ok { color: #1b7f3b; } .warn { color: #b36b00; } .bad { color: #b3261e; }
.note { color: var(--muted); font-size: 14px; }
.statement { padding: 10px 14px; border-left: 4px solid var(--accent); background: var(--bg-soft); border-radius: 6px; }
`;

/** The complete page. */
export function page(title: string, headerHtml: string, navItems: Array<[string, string]>, body: string): string {
  const nav = navItems.map(([id, label]) => `<a href="#${esc(id)}">${esc(label)}</a>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<main>
<header>
<h1>${esc(title)}</h1>
${headerHtml}
</header>
<nav>${nav}</nav>
${body}
</main>
</body>
</html>
`;
}
