// Browser end-to-end for governed tools: sign up, connect the scripted provider, create an
// agent whose calculator multiplications need approval (the editor's tool policy field),
// preflight it in the editor (the plan shows the call, simulated, needing approval, with a
// cost estimate), run the plan for real, see the call wait in the chat, approve it in the approvals inbox from
// a second tab, and see the answer stream into the first. Driven by cli/tests/browser.rs
// (BASE_URL, SCRIPTED_URL, OUT_DIR). Exits non-zero on any failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL;
const scripted = process.env.SCRIPTED_URL;
const out = process.env.OUT_DIR || 'test-output/e2e-approvals';
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
const shot = (p, name) => p.screenshot({ path: `${out}/${name}.png`, fullPage: true });
const step = (s) => console.log(`e2e-approvals: ${s}`);

try {
  step('sign up and connect the scripted provider');
  await page.goto(`${base}/signup`);
  await page.fill('#name', 'Ada Approver');
  await page.fill('#email', 'ada@example.com');
  await page.fill('#password', 'correct horse battery');
  await Promise.all([page.waitForURL('**/agents', { timeout: 30000 }), page.click('form:has(#password) button[type=submit]')]);
  await page.goto(`${base}/settings/providers`);
  await page.check('input[name=kind][value=openai_compatible]');
  await page.fill('#provider-name', 'Scripted');
  await page.fill('#base_url', scripted);
  await page.fill('#api_key', 'sk-e2e');
  await page.fill('#models', 'scripted');
  await page.click('form:has(#provider-name) button[type=submit]');
  await page.waitForSelector('text=Scripted', { timeout: 30000 });

  step('the inbox starts empty');
  await page.goto(`${base}/approvals`);
  await page.waitForSelector('#approvals-empty', { timeout: 30000 });
  await shot(page, '01-inbox-empty');

  step('create an agent whose multiplications need approval');
  await page.goto(`${base}/agents/new`);
  await page.waitForSelector('#model_ref');
  await page.fill('#name', 'Careful calculator');
  const value = await page.$eval('#model_ref', (sel) => {
    const o = [...sel.options].find((o) => o.textContent.trim() === 'scripted' && o.parentElement.label.startsWith('Scripted'));
    return o && o.value;
  });
  await page.selectOption('#model_ref', value);
  await page.check('input[name=tool_calculator]');
  await page.fill('#tool_policies', JSON.stringify([{ tool: 'calculator', action: 'require_approval', when: "args.expression.contains('*')" }]));
  await shot(page, '02-agent-editor-policy');
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/agents/new'), { timeout: 30000 }), page.click('form:has(#model_ref) button[type=submit].btn-primary')]);

  step('preflight it from the editor: the call is planned, simulated, and would need approval');
  const agentUrl = page.url().replace(/\?.*$/, '');
  await page.goto(`${agentUrl}/edit`);
  await page.waitForSelector('#preflight-input', { timeout: 30000 });
  await page.fill('#price_input', '3');
  await page.fill('#price_output', '15');
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith('/edit'), { timeout: 30000 }), page.click('form:has(#model_ref) button[type=submit].btn-primary')]);
  await page.goto(`${agentUrl}/edit`);
  await page.waitForSelector('#preflight-input', { timeout: 30000 });
  await page.waitForFunction(() => !document.querySelector('#preflight-run').disabled);
  await page.fill('#preflight-input', 'What is 17*23?');
  await page.click('#preflight-run');
  await page.waitForSelector('#preflight-plan tr[data-tool=calculator]', { timeout: 60000 });
  const row = await page.textContent('#preflight-plan tr[data-tool=calculator]');
  if (!row.includes('needs approval') || !row.includes('simulated')) throw new Error(`plan row: ${row}`);
  const summary = await page.textContent('#preflight-plan .plan-summary');
  if (!summary.includes('$')) throw new Error(`no cost estimate: ${summary}`);
  await page.locator('#preflight').screenshot({ path: `${out}/03a-preflight-plan.png` });

  step('run the plan for real; the call waits');
  await Promise.all([page.waitForURL((u) => u.search.includes('thread='), { timeout: 30000 }), page.click('#preflight-follow')]);
  await page.waitForSelector('.tool-step .badge:has-text("waiting for approval")', { timeout: 60000 });
  await page.waitForSelector('form:has(#chat-input) button:has-text("Waiting for approval")', { timeout: 30000 });
  await page.waitForSelector('.runs-panel .status-waiting_approval', { timeout: 30000 });
  await shot(page, '03-chat-waiting');

  step('approve it in the inbox, in another tab');
  const inbox = await context.newPage();
  inbox.on('pageerror', (e) => errors.push(String(e)));
  await inbox.goto(`${base}/approvals`);
  await inbox.waitForSelector('.approval code:has-text("calculator")', { timeout: 30000 });
  const args = await inbox.$eval('.approval textarea[name=arguments]', (t) => t.value);
  if (!args.includes('17*23')) throw new Error(`inbox does not show the arguments: ${args}`);
  await inbox.fill('.approval input[name=comment]', 'multiplying is fine today');
  await shot(inbox, '04-inbox-pending');
  await inbox.click('.approval button[value=approve]');
  await inbox.waitForSelector('#approvals-empty', { timeout: 30000 });
  await inbox.waitForSelector('#approvals-decided :text("multiplying is fine today")', { timeout: 30000 });
  await shot(inbox, '05-inbox-decided');

  step('the answer streams into the chat');
  await page.bringToFront();
  await page.waitForSelector('text=17 × 23 = 391', { timeout: 60000 });
  await shot(page, '06-chat-answer');
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  step('ok');
} catch (e) {
  await shot(page, '99-failure').catch(() => {});
  console.error(`e2e-approvals failed: ${e.stack || e}`);
  console.error(`url: ${page.url()}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
