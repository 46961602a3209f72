// Browser end-to-end: sign up, connect the scripted provider, create an agent with the
// calculator tool, send a message, and see the streamed answer and the tool step; then,
// logged out, five wrong passwords and the login rate limit's message.
// Driven by cli/tests/browser.rs, which starts the server and the scripted LLM and passes
// BASE_URL, SCRIPTED_URL and OUT_DIR. Exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL;
const scripted = process.env.SCRIPTED_URL;
const out = process.env.OUT_DIR || 'test-output/e2e';
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
const shot = (name) => page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
const step = (s) => console.log(`e2e: ${s}`);

try {
  step('sign up');
  await page.goto(`${base}/signup`);
  await shot('01-signup');
  await page.fill('#name', 'Eve Tester');
  await page.fill('#email', 'eve@example.com');
  await page.fill('#password', 'correct horse battery');
  await Promise.all([page.waitForURL('**/agents', { timeout: 30000 }), page.click('form:has(#password) button[type=submit]')]);
  await page.waitForSelector('text=Agents');
  await shot('02-agents-empty');

  step('connect the scripted provider');
  await page.goto(`${base}/settings/providers`);
  await page.check('input[name=kind][value=openai_compatible]');
  await page.fill('#provider-name', 'Scripted');
  await page.fill('#base_url', scripted);
  await page.fill('#api_key', 'sk-e2e');
  await page.fill('#models', 'scripted');
  await page.click('form:has(#provider-name) button[type=submit]');
  await page.waitForSelector('text=Scripted', { timeout: 30000 });
  await shot('03-providers');

  step('create an agent with the calculator');
  await page.goto(`${base}/agents/new`);
  await page.waitForSelector('#model_ref');
  await page.fill('#name', 'Calc agent');
  const value = await page.$eval('#model_ref', (sel) => {
    const o = [...sel.options].find((o) => o.textContent.trim() === 'scripted' && o.parentElement.label.startsWith('Scripted'));
    return o && o.value;
  });
  if (!value) throw new Error('scripted model missing from the model picker');
  await page.selectOption('#model_ref', value);
  await page.check('input[name=tool_calculator]');
  await shot('04-agent-editor');
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/agents/new'), { timeout: 30000 }), page.click('form:has(#model_ref) button[type=submit].btn-primary')]);

  step('open the chat');
  await page.goto(`${base}/agents`);
  await page.click('text=Calc agent');
  await page.waitForSelector('#chat-input', { timeout: 30000 });
  // Give hydration a moment to attach handlers, then send.
  await page.waitForFunction(() => document.querySelector('#chat-input') && !document.querySelector('#chat-input').disabled);
  await page.fill('#chat-input', 'What is 17*23?');
  await page.click('form:has(#chat-input) button[type=submit]');

  step('see the tool step and the streamed answer');
  await page.waitForSelector('.tool-step .tool-name:has-text("calculator")', { timeout: 60000 });
  await page.waitForSelector('text=17 × 23 = 391', { timeout: 60000 });
  await page.waitForFunction(() => !document.body.innerText.includes('Cancel'), null, { timeout: 30000 }).catch(() => {});
  await shot('05-chat-answer');
  const toolText = await page.$eval('.tool-step', (el) => { el.open = true; return el.innerText; });
  if (!toolText.includes('391')) throw new Error(`tool step does not show the result: ${toolText}`);
  await shot('06-chat-tool-open');

  step('wrong passwords, then the login rate limit');
  const guest = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  guest.on('pageerror', (e) => errors.push(String(e)));
  await guest.goto(`${base}/login`);
  for (let i = 1; i <= 6; i++) {
    await guest.fill('#email', 'eve@example.com');
    await guest.fill('#password', `wrong guess ${i}`);
    await guest.click('form:has(#password) button[type=submit]');
    // Five wrong passwords are refused as such; the sixth (5 per minute per e-mail) is limited.
    const expected = i <= 5 ? 'Wrong e-mail or password.' : 'Too many login attempts. Try again in';
    await guest.waitForSelector(`.alert-error:has-text("${expected}")`, { timeout: 30000 });
    await guest.waitForFunction(() => !document.querySelector('form:has(#password) button[type=submit]').disabled);
  }
  await guest.screenshot({ path: `${out}/07-login-rate-limited.png`, fullPage: true });
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  step('ok');
} catch (e) {
  await shot('99-failure').catch(() => {});
  console.error(`e2e failed: ${e.stack || e}`);
  console.error(`url: ${page.url()}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
