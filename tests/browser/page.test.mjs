// The download service's page for people, in a real browser: Debian's chromium driven by
// playwright-core (never `playwright install`). Run by tests/server-consumer.sh against the demo's
// output with BULKEXPORT_SERVER set; leaves a screenshot at BULKEXPORT_SCREENSHOT.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const base = process.env.BULKEXPORT_SERVER;
const screenshot = process.env.BULKEXPORT_SCREENSHOT ?? 'artifacts/server-page.png';

test('the page lists registers, entities and newest totals with size, date and checksum, and its links download', { skip: !base && 'BULKEXPORT_SERVER not set' }, async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const response = await page.goto(base + '/');
    assert.equal(response.status(), 200);
    assert.equal(await page.locator('h1').innerText(), 'Bulk downloads');
    assert.deepEqual(await page.locator('section h2').allInnerTexts(), ['DAR']);
    assert.deepEqual(await page.locator('section#DAR h3').allInnerTexts(), ['Adresse', 'Husnummer', 'Postnummer']);

    const rows = page.locator('section#DAR tbody tr');
    assert.ok(await rows.count() >= 3, 'a row per newest total');
    for (const row of await rows.all()) {
      const cells = await row.locator('td').allInnerTexts();
      assert.match(cells[0], /^DAR_V1_[A-Za-z]+_TotalDownload_[A-Z]+_(Bitemporal|Temporal|Current)_\d+\.zip$/);
      assert.match(cells[4], /^\d+(\.\d)? (B|KiB|MiB|GiB)$/);
      assert.match(cells[5], /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
      assert.match(cells[6], /^[0-9a-f]{64}$/);
    }

    // The first file link downloads that file; the browser gets the bytes the checksum promises.
    const first = rows.first();
    const href = await first.locator('a').getAttribute('href');
    const file = await page.request.get(base + href);
    assert.equal(file.status(), 200);
    const { createHash } = await import('node:crypto');
    assert.equal(createHash('sha256').update(await file.body()).digest('hex'), (await first.locator('td').allInnerTexts())[6]);

    assert.ok(await page.getByRole('heading', { name: 'How to mirror' }).isVisible());
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
  }
});
