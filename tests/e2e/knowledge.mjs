// Browser end-to-end for knowledge bases: sign up, see the empty state, create a base,
// upload the repository's ARCHITECTURE.md by drag and drop, watch it get embedded until
// "ready", see refused files (empty, binary posing as text) and a duplicate reported per
// file, upload without JavaScript (plain multipart form post), search, attach the base to
// an agent, and delete a document.
//
// Needs a running server with knowledge bases (and a GPU worker embedding them), e.g.
//   cargo run -p autonoma-app --features ssr --example ui_dev -- --addr 127.0.0.1:3000
// Env: BASE_URL (required), OUT_DIR (screenshots; default test-output/e2e-knowledge),
// DOC_PATH (default <repo>/ARCHITECTURE.md), READY_TIMEOUT_MS (default 300000: lavapipe is
// slow), CHROMIUM (default /usr/bin/chromium). Exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, basename } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const base = process.env.BASE_URL;
if (!base) throw new Error('BASE_URL is required');
const out = process.env.OUT_DIR || 'test-output/e2e-knowledge';
const docPath = process.env.DOC_PATH || join(here, '..', '..', 'ARCHITECTURE.md');
const readyTimeout = Number(process.env.READY_TIMEOUT_MS || 300000);
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await ctx.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
const shot = (p, name) => p.screenshot({ path: `${out}/${name}.png`, fullPage: true });
const step = (s) => console.log(`e2e-knowledge: ${s}`);
const hydrated = (p) => p.waitForSelector('html[data-hydrated]', { timeout: 60000 });
const docName = basename(docPath);
const docText = readFileSync(docPath, 'utf8');

try {
  step('sign up');
  await page.goto(`${base}/signup`);
  await page.fill('#name', 'Kay Tester');
  await page.fill('#email', `kay-${Date.now()}@example.com`);
  await page.fill('#password', 'correct horse battery');
  await Promise.all([page.waitForURL('**/agents', { timeout: 30000 }), page.click('form:has(#password) button[type=submit]')]);

  step('empty state');
  await page.click('nav.nav-links a:has-text("Knowledge")');
  await page.waitForURL('**/knowledge');
  await page.waitForSelector('text=No knowledge bases yet');
  await shot(page, '01-knowledge-empty');

  step('create a knowledge base');
  await hydrated(page);
  await page.fill('#kb-name', 'Architecture');
  await page.fill('#kb-description', 'How Autonoma is built.');
  await Promise.all([page.waitForURL(/\/knowledge\/[0-9a-f-]{36}$/, { timeout: 30000 }), page.click('form:has(#kb-name) button[type=submit]')]);
  await page.waitForSelector('.upload-zone');
  await hydrated(page);
  const kbUrl = page.url();
  await shot(page, '02-base-empty');

  step(`drop ${docName} on the upload zone`);
  const dt = await page.evaluateHandle(({ name, text }) => {
    const dt = new DataTransfer();
    dt.items.add(new File([text], name, { type: 'text/markdown' }));
    return dt;
  }, { name: docName, text: docText });
  await page.dispatchEvent('.upload-zone', 'dragenter', { dataTransfer: dt });
  await page.dispatchEvent('.upload-zone', 'dragover', { dataTransfer: dt });
  await page.waitForSelector('.upload-zone.dragover');
  await shot(page, '03-dragover');
  await page.dispatchEvent('.upload-zone', 'drop', { dataTransfer: dt });
  await page.waitForSelector(`.upload-row.upload-stored:has-text("${docName}")`, { timeout: 60000 });
  if (await page.$('.upload-zone.dragover')) throw new Error('the drop highlight stayed on');

  step('watch it being embedded');
  await page.waitForSelector(`.doc-table tr:has-text("${docName}") [role=progressbar]`, { timeout: 30000 });
  await shot(page, '04-embedding');
  const bar = await page.$eval('[role=progressbar]', (el) => ({ max: el.getAttribute('aria-valuemax'), now: el.getAttribute('aria-valuenow') }));
  if (!(Number(bar.max) > 0)) throw new Error(`progress bar without a maximum: ${JSON.stringify(bar)}`);

  step('refused files and a duplicate, one outcome per file');
  await page.setInputFiles('#upload-files', [
    { name: 'empty.txt', mimeType: 'text/plain', buffer: Buffer.alloc(0) },
    { name: 'photo.txt', mimeType: 'text/plain', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe]) },
    { name: 'copy.md', mimeType: 'text/markdown', buffer: Buffer.from(docText) },
  ]);
  await page.waitForSelector('.upload-row.upload-failed:has-text("empty.txt") >> text=is empty', { timeout: 30000 });
  await page.waitForSelector('.upload-row.upload-failed:has-text("photo.txt") >> text=not UTF-8 text', { timeout: 30000 });
  await page.waitForSelector(`.upload-row.upload-duplicate:has-text("copy.md") >> text=already in this base as “${docName}”`, { timeout: 30000 });
  await shot(page, '05-upload-outcomes');

  step('wait until ready');
  await page.waitForSelector(`.doc-table tr:has-text("${docName}") .status-ready`, { timeout: readyTimeout });
  if (await page.$('[role=progressbar]')) throw new Error('a progress bar is left although every document is ready');
  await shot(page, '06-ready');

  step('upload without JavaScript (plain multipart form post)');
  const state = await ctx.storageState();
  const nojs = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: false, storageState: state });
  const plain = await nojs.newPage();
  await plain.goto(kbUrl);
  await plain.setInputFiles('#upload-files', [
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('Release notes.\n\nVersion 2 adds knowledge bases with citations.\n') },
    { name: 'empty.md', mimeType: 'text/markdown', buffer: Buffer.alloc(0) },
  ]);
  await Promise.all([plain.waitForURL(/__err=/, { timeout: 30000 }), plain.click('.upload-zone button[type=submit]')]);
  await plain.waitForSelector('text=Uploaded 1 of 2 files.');
  await plain.waitForSelector('text=empty.md is empty');
  await plain.waitForSelector('.doc-table tr:has-text("notes.txt")');
  await shot(plain, '07-nojs-upload');
  await nojs.close();

  step('search');
  await page.goto(kbUrl);
  await hydrated(page);
  await page.waitForSelector('.doc-table tr:has-text("notes.txt") .status-ready', { timeout: readyTimeout }).catch(() => {});
  await page.fill('#search-q', 'How are failed jobs retried?');
  await page.selectOption('#search-k', '3');
  await page.click('form:has(#search-q) button[type=submit]');
  await page.waitForURL(/\?q=/, { timeout: 30000 });
  await page.waitForSelector('.search-results .hit', { timeout: 60000 });
  const hits = await page.$$eval('.search-results .hit', (els) =>
    els.map((el) => ({ score: el.querySelector('.hit-score')?.textContent, doc: el.querySelector('.hit-doc')?.textContent, text: el.querySelector('.hit-text')?.textContent })),
  );
  if (hits.length !== 3) throw new Error(`expected 3 results, got ${hits.length}`);
  if (!hits.every((h) => /^-?[01]\.\d\d$/.test(h.score || ''))) throw new Error(`bad scores: ${JSON.stringify(hits)}`);
  if (hits[0].doc !== docName) throw new Error(`the best passage should come from ${docName}: ${JSON.stringify(hits[0])}`);
  await shot(page, '08-search');

  step('attach the base to an agent');
  await page.goto(`${base}/agents/new`);
  await page.waitForSelector('input[name="knowledge_base_ids[]"]');
  const boxes = await page.$$eval('input[name="knowledge_base_ids[]"]', (els) => els.length);
  if (boxes !== 1) throw new Error(`expected one knowledge-base checkbox, got ${boxes}`);
  await shot(page, '09-agent-editor-knowledge');

  step('delete a document');
  await page.goto(kbUrl);
  await hydrated(page);
  await page.click('.doc-table tr:has-text("notes.txt") button:has-text("Delete")');
  await page.waitForSelector('.doc-table tr:has-text("notes.txt")', { state: 'detached', timeout: 30000 });

  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  step('ok');
} catch (e) {
  await shot(page, '99-failure').catch(() => {});
  console.error(`e2e-knowledge failed: ${e.stack || e}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
