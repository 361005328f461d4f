/**
 * The HTML report in a real browser: Debian's headless Chromium (never a
 * downloaded build) opens the file with every network request blocked, and
 * every chart must draw exactly the marks the report data implies, with no
 * error or warning on the console. A screenshot is left in test-output/.
 *
 * Without /usr/bin/chromium the test is skipped on a developer machine and
 * fails in CI (CI=true), where .ci/run installs it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MARK_ELEMENT, type MarkType } from '../../src/report/charts.js';
import { compareScenarios, loadBuiltins } from '../../src/report/compare.js';
import { renderHtml } from '../../src/report/html.js';
import type { Report } from '../../src/report/model.js';
import { expectedMarksFromData } from '../support/expected_marks.js';

// The report under test: what `foliosim compare -f html` writes for every built-in scenario.
const loadReport = (): Promise<Report> => compareScenarios(loadBuiltins(), { jobs: 1 });

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OUT = resolve(__dirname, '../../test-output');
const haveChromium = existsSync(CHROMIUM);
const required = process.env.CI === 'true';

if (!haveChromium && !required)
  console.warn(`skipping the browser test: ${CHROMIUM} is missing (install it with: apt-get install chromium)`);

describe.runIf(haveChromium || required)('HTML report in headless Chromium', () => {
  let browser: Browser;
  let report: Report;
  let file: string;
  let dir: string;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} is required in CI (apt-get install chromium)`).toBe(true);
    report = await loadReport();
    dir = mkdtempSync(join(tmpdir(), 'foliosim-html-'));
    file = join(dir, 'report.html');
    writeFileSync(file, renderHtml(report));
    // launch() gives the browser a fresh temporary profile of its own (a --user-data-dir argument is refused).
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('renders every chart with exactly the marks the data implies, offline and without console noise', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    const url = pathToFileURL(file).href;
    const attempted: string[] = [];
    const console_: string[] = [];
    await context.route('**', (route) => {
      const u = route.request().url();
      if (u === url) return route.continue();
      attempted.push(u);
      return route.abort();
    });
    page.on('request', (req) => {
      if (req.url() !== url) attempted.push(req.url());
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') console_.push(`${msg.type()}: ${msg.text()}`);
    });
    page.on('pageerror', (e) => console_.push(`pageerror: ${e.message}`));

    await page.goto(url, { waitUntil: 'load' });
    const ids = await page.evaluate(() => (globalThis as unknown as { foliosimCharts: Promise<string[]> }).foliosimCharts);

    const expected = expectedMarksFromData(report);
    expect([...ids].sort()).toEqual([...expected.keys()].sort());
    for (const [id, byType] of expected) {
      const el = page.locator(`[data-chart="${id}"]`);
      expect(await el.getAttribute('data-rendered'), id).toBe('true');
      expect(JSON.parse((await el.getAttribute('data-expected-by-type'))!), id).toEqual(byType);
      const total = Object.values(byType).reduce((a, n) => a + n, 0);
      expect(Number(await el.getAttribute('data-expected-marks')), id).toBe(total);
      let drawn = 0;
      for (const [type, n] of Object.entries(byType) as [MarkType, number][]) {
        const count = await el.locator(`svg g.mark-${type}.role-mark > ${MARK_ELEMENT[type]}`).count();
        expect(count, `${id}: ${type} marks`).toBe(n);
        drawn += count;
      }
      expect(drawn, id).toBe(total);
    }

    expect(attempted, 'network requests').toEqual([]);
    expect(console_, 'console errors and warnings').toEqual([]);

    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'report.png'), fullPage: true });
    await context.close();
  });
});
