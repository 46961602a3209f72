// Browser end-to-end for MCP server connections (/mcp-servers): the empty state, adding the
// reference server-everything over stdio and seeing its tools (annotations, input schema),
// a refused connection with a readable error, and deleting it. Driven by
// cli/tests/browser.rs (BASE_URL, MCP_COMMAND, MCP_ARGS as JSON, OUT_DIR). Exits non-zero
// on any failure.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';

const base = process.env.BASE_URL;
const command = process.env.MCP_COMMAND;
const args = JSON.parse(process.env.MCP_ARGS || '[]');
const out = process.env.OUT_DIR || 'test-output/e2e-mcp';
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const errors = [];
page.on('pageerror', (e) => errors.push(String(e)));
const shot = async (name) => { await page.evaluate(() => window.scrollTo(0, 0)); await page.screenshot({ path: `${out}/${name}.png`, fullPage: true }); };
const step = (s) => console.log(`e2e-mcp: ${s}`);

try {
  step('sign up');
  await page.goto(`${base}/signup`);
  await page.fill('#name', 'Mia MCP');
  await page.fill('#email', 'mia@example.com');
  await page.fill('#password', 'correct horse battery');
  await Promise.all([page.waitForURL('**/agents', { timeout: 30000 }), page.click('form:has(#password) button[type=submit]')]);

  step('the MCP servers page starts empty');
  await page.click('nav >> text=MCP servers');
  await page.waitForURL('**/mcp-servers', { timeout: 30000 });
  await page.waitForSelector('#mcp-empty', { timeout: 30000 });
  // HTTP-only fields are hidden while stdio is chosen.
  if (await page.isVisible('#mcp-url')) throw new Error('the URL field shows for stdio');
  await shot('01-empty');

  step('a relative command is refused with a readable error');
  await page.fill('#mcp-name', 'broken');
  await page.fill('#mcp-command', 'node');
  await page.click('#mcp-add');
  await page.waitForSelector('.mcp-form .alert-error', { timeout: 30000 });
  const refused = await page.textContent('.mcp-form .alert-error');
  if (!/absolute path/.test(refused)) throw new Error(`unexpected error text: ${refused}`);
  await shot('02-refused');

  step('add server-everything over stdio');
  await page.fill('#mcp-name', 'everything');
  await page.fill('#mcp-command', command);
  await page.fill('#mcp-args', args.join('\n'));
  await page.click('#mcp-add');
  await page.waitForSelector('.mcp-server[data-name=everything] [data-tool="everything__echo"]', { timeout: 60000 });
  const echo = page.locator('[data-tool="everything__echo"]');
  const echoText = await echo.textContent();
  if (!/read-only/.test(echoText)) throw new Error(`echo is not shown read-only: ${echoText}`);
  const status = await page.textContent('.mcp-server[data-name=everything] .mcp-status');
  if (status.trim() !== 'ready') throw new Error(`status ${status}`);
  await shot('03-tools');

  step('the input schema of echo');
  await echo.locator('.mcp-schema summary').click();
  const schema = await echo.locator('.mcp-schema pre').textContent();
  if (!/"message"/.test(schema)) throw new Error(`schema without message: ${schema}`);
  await echo.scrollIntoViewIfNeeded();
  await shot('04-schema');

  step('delete it');
  await page.click('.mcp-server[data-name=everything] button.btn-danger');
  await page.waitForSelector('#mcp-empty', { timeout: 30000 });
  await shot('05-deleted');

  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  step('ok');
} catch (e) {
  console.error(e);
  await shot('99-failure').catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
