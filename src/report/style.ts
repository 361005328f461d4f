/** The HTML report's stylesheet, inline in the page (it loads nothing). Readable from 1280 px down to a laptop. */
export const STYLE = `
:root { color-scheme: light; --fg: #1d1d1f; --muted: #5f6368; --line: #e2e2e2; --best: #e5f4e8; --best-fg: #0b5d1e; --bad: #b00020; }
* { box-sizing: border-box; }
body { margin: 0; background: #f7f7f8; color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, main, body > footer { max-width: 1240px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 16px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 19px; margin: 0 0 8px; }
h2 code { font-size: 13px; color: var(--muted); font-weight: normal; }
h3 { font-size: 15px; margin: 22px 0 4px; }
h4 { font-size: 13px; margin: 14px 0 4px; }
nav ul { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: 6px 18px; }
.scenario { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 18px 22px; margin: 16px 0; }
.question, .verdict { margin: 4px 0; max-width: 75em; }
.verdict { font-size: 15px; }
.tag { display: inline-block; min-width: 5.5em; color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.note { color: var(--muted); font-size: 12.5px; margin: 4px 0 8px; max-width: 90em; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 6px 0; }
.scroll { max-width: 100%; overflow-x: auto; }
th, td { padding: 4px 12px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
thead th { border-bottom: 2px solid #bbb; font-weight: 600; }
th.label { text-align: left; font-weight: normal; }
thead th.label { font-weight: 600; }
td.best { background: var(--best); color: var(--best-fg); font-weight: 600; }
.check { color: var(--best-fg); }
.tilde, sup { color: #8a6100; font-weight: 600; }
.findings { margin: 4px 0; padding-left: 20px; }
.findings .expected { color: var(--muted); }
.findings .unexpected, .expectations.failed { color: var(--bad); font-weight: 700; }
.chart { background: #fff; border: 1px solid var(--line); border-radius: 4px; padding: 10px; overflow-x: auto; min-height: 40px; }
.chart[data-error] { color: var(--bad); }
details { margin: 14px 0 0; }
summary { cursor: pointer; font-weight: 600; }
.conf-low { color: #8a6100; }
.footer, body > footer { color: var(--muted); font-size: 12px; }
body > footer { padding-bottom: 24px; }
`;
