// Manual smoke check of a running `autonoma serve` (release build, embedded defaults):
// sign up, create an agent on the built-in Local model, ask a question, wait for the answer.
// Usage: BASE_URL=http://127.0.0.1:3000 OUT_DIR=/tmp/shots node tests/e2e/local_smoke.mjs
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL || 'http://127.0.0.1:3000';
const out = process.env.OUT_DIR || 'test-output/smoke';
mkdirSync(out, { recursive: true });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
const shot = (name) => page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
try {
  const email = `smoke-${Date.now()}@example.com`;
  await page.goto(`${base}/signup`);
  await page.waitForSelector('html[data-hydrated]', { timeout: 30000 });
  await page.fill('#name', 'Smoke Tester');
  await page.fill('#email', email);
  await page.fill('#password', 'correct horse battery');
  await Promise.all([page.waitForURL('**/agents', { timeout: 30000 }), page.click('form:has(#password) button[type=submit]')]);
  await page.waitForSelector('html[data-hydrated]', { timeout: 30000 });
  await shot('01-agents-empty');
  await page.goto(`${base}/agents/new`);
  await page.waitForSelector('html[data-hydrated]', { timeout: 30000 });
  await page.fill('#name', 'Local helper');
  const opts = await page.$$eval('#model_ref option', (os) => os.map((o) => o.value).filter((v) => v));
  await page.selectOption('#model_ref', opts[0]);
  await shot('02-editor');
  await Promise.all([page.waitForURL(/\/agents\/[0-9a-f-]+$/, { timeout: 30000 }), page.click('form:has(#model_ref) button[type=submit]')]);
  await page.waitForSelector('html[data-hydrated]', { timeout: 30000 });
  await page.fill('#chat-input', 'What is the capital of France? Answer in one sentence.');
  await page.keyboard.press('Enter');
  await page.waitForSelector('text=/completed|Completed/', { timeout: 120000 });
  await shot('03-chat-answer');
  console.log('smoke: ok; page errors:', errors.length ? errors : 'none');
} catch (e) {
  await shot('99-failure');
  console.error('smoke: FAILED', e, errors);
  process.exitCode = 1;
} finally {
  await browser.close();
}
