// The console as an admin uses it, in Debian's headless Chromium driven by playwright-core: sign in, create
// a domain with its downstream host and a domain admin, create a user and an alias, import a file, open a
// message from the email log, deny its IP and classify it, watch the licenses change, then sign in as the domain admin and be refused another domain. Screenshots of the main
// pages go to MOAT_ARTIFACTS. Run by tests/tests/browser.rs with a Moat it started.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const base = process.env.MOAT_URL;
const artifacts = process.env.MOAT_ARTIFACTS;
const downstream = process.env.MOAT_DOWNSTREAM;
const importFile = process.env.MOAT_IMPORT_FILE;
const [rootName, rootPassword] = [process.env.MOAT_ADMIN, process.env.MOAT_PASSWORD];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // This machine's network is closed: no background connections, no first-run work.
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
}

async function signIn(page, name, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Name or email address').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function licensesInUse(page) {
  await page.goto(`${base}/`);
  return Number(await page.locator('#licenses-used .big').textContent());
}

const context = await browser.newContext();
const page = await context.newPage();
try {
  await signIn(page, rootName, rootPassword);
  await page.waitForURL(`${base}/`);
  await shot(page, 'status');
  const before = await licensesInUse(page);

  // A domain with its downstream host and a domain admin who may open users' panels.
  await page.goto(`${base}/domains`);
  const form = page.locator('#new-domain');
  await form.getByLabel('Domain name').fill('shop.test');
  await form.getByLabel('Contact email').fill('it@shop.test');
  await form.getByLabel('Downstream hosts').fill(downstream);
  await form.locator('input[name=admin_name]').fill('shopadmin');
  await form.locator('input[name=admin_password]').fill('Shop_pass.2026');
  await form.getByLabel("May open users' panels").check();
  await form.getByRole('button', { name: 'Create domain' }).click();
  await page.waitForURL(/\/domains\/shop\.test/);
  assert.match(await page.locator('.done').textContent(), /Domain created/);
  assert.match(await page.locator('#downstream').textContent(), /127\.0\.0\.1/);
  assert.match(await page.locator('#spf').textContent(), /v=spf1/);
  await page.getByRole('button', { name: 'Test SMTP' }).click();
  await page.locator('#downstream .result .ok').waitFor();
  await shot(page, 'domain');

  // A user and an alias.
  await page.goto(`${base}/users`);
  const user = page.locator('#new-user');
  await user.locator('select[name=domain]').selectOption('shop.test');
  await user.getByLabel('Login (without domain)').fill('ann');
  await user.getByLabel('Full name').fill('Ann Lee');
  await user.getByLabel('Password (empty: generated)').fill('Ann_pass.2026');
  await user.getByRole('button', { name: 'Create user' }).click();
  assert.match(await page.locator('.done').textContent(), /User created ann@shop\.test/);
  const alias = page.locator('#new-alias');
  await alias.getByLabel('Alias (without domain)').fill('sales');
  await alias.getByLabel('Alias domain').selectOption('shop.test');
  await alias.getByLabel('Of user (address)').fill('ann@shop.test');
  await alias.getByRole('button', { name: 'Create alias' }).click();
  assert.match(await page.locator('.done').textContent(), /Alias created sales@shop\.test/);
  await page.goto(`${base}/users?q=shop.test`);
  assert.match(await page.locator('#users').textContent(), /sales@shop\.test/);
  await shot(page, 'users');

  // An import of two more users, followed to its end.
  await page.goto(`${base}/import`);
  const upload = page.locator('#import');
  await upload.locator('input[type=file]').setInputFiles(importFile);
  await upload.locator('select[name=domain]').selectOption('shop.test');
  await upload.getByRole('button', { name: 'Import' }).click();
  await page.waitForURL(/\/import\/\d+/);
  for (let i = 0; i < 100 && (await page.locator('#import-status').textContent()) !== 'finished'; i++) {
    await page.waitForTimeout(200);
    await page.reload();
  }
  assert.equal(await page.locator('#import-status').textContent(), 'finished');
  assert.equal(await page.locator('#import-imported').textContent(), '2');
  assert.equal(await page.locator('#import-errors').textContent(), '1');
  await shot(page, 'import');

  // Filtering: a threshold changed, a broken upload refused with the reason, a custom filter added.
  await page.goto(`${base}/filtering`);
  await page.getByLabel('Tag at').fill('4');
  // The built-in classifier learns from confident verdicts; the reputation layer from every verdict.
  assert.equal(await page.getByLabel('Learns bayes').inputValue(), 'confident');
  assert.equal(await page.getByLabel('Learns reputation').inputValue(), 'every');
  await page.getByLabel('Teach spam at').fill('6');
  await page.getByRole('button', { name: 'Save chain' }).click();
  assert.match(await page.locator('.done').textContent(), /Chain saved, version/);
  assert.equal(await page.getByLabel('Teach spam at').inputValue(), '6');
  assert.equal(await page.getByLabel('Learns bayes').inputValue(), 'confident', 'kept as it was');
  const plugin = page.locator('#upload');
  await plugin.locator('input[type=file]').setInputFiles({ name: 'broken.wasm', mimeType: 'application/wasm', buffer: Buffer.from('not wasm') });
  await plugin.getByLabel('Name').fill('broken');
  await plugin.getByRole('button', { name: 'Upload' }).click();
  assert.match(await page.locator('.error').textContent(), /broken/i);
  await page.locator('#upload input[type=file]').setInputFiles(process.env.MOAT_PLUGIN_FILE);
  await page.locator('#upload').getByLabel('Name').fill('tagger');
  await page.locator('#upload').getByRole('button', { name: 'Upload' }).click();
  assert.match(await page.locator('.done').textContent(), /Filter uploaded: tagger 0\.1\.0/);
  assert.match(await page.locator('#chain-entries').textContent(), /tagger/);
  await shot(page, 'filtering');

  // Customization: a logo and a welcome message for every domain.
  await page.goto(`${base}/branding`);
  await page.locator('#branding input[name=logo]').setInputFiles(process.env.MOAT_LOGO_FILE);
  await page.locator('#branding textarea[name=welcome]').fill('Welcome, {name}!');
  await page.getByRole('button', { name: 'Save' }).click();
  assert.match(await page.locator('.done').textContent(), /Customization saved/);
  const logo = await page.request.get(`${base}/logo`);
  assert.equal(logo.headers()['content-type'], 'image/png');
  await shot(page, 'branding');

  // The email log: the message the test sent, found, opened, its IP denied and itself classified as spam.
  await page.goto(`${base}/log`);
  await page.getByLabel('Search').fill('quarterly');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('#log tbody a').first().click();
  assert.match(await page.locator('#headers').textContent(), /Subject: Quarterly report/);
  await page.getByRole('button', { name: 'Deny this IP' }).click();
  assert.match(await page.locator('.done').textContent(), /Denied for the domain: 127\.0\.0\.1 \(acme\.test\)/);
  await page.getByRole('button', { name: 'Classify as spam' }).click();
  assert.match(await page.locator('.done').textContent(), /Classified as spam/);
  assert.equal(await page.locator('#classified').textContent(), 'spam');
  await shot(page, 'log');

  // The queue, from the navigation: what waits (here nothing: the sink took every message).
  await page.getByRole('link', { name: 'Queue', exact: true }).click();
  await page.waitForURL(/\/queue$/);
  assert.equal(await page.locator('#queue, #queue-empty').count(), 1);
  await shot(page, 'queue');

  // Three new mailboxes: three more licenses in use.
  assert.equal(await licensesInUse(page), before + 3);
  await shot(page, 'status-after');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login/);

  // The domain admin sees its domain, and another domain does not exist for it.
  await signIn(page, 'shopadmin', 'Shop_pass.2026');
  await page.goto(`${base}/domains`);
  const listed = await page.locator('#domains tbody').textContent();
  assert.match(listed, /shop\.test/);
  assert.doesNotMatch(listed, /acme\.test/);
  const refused = await page.goto(`${base}/domains/acme.test`);
  assert.equal(refused.status(), 404);
  await shot(page, 'refused');
  const forbidden = await page.goto(`${base}/import`);
  assert.equal(forbidden.status(), 403);
  console.log('browser scenario passed');
} catch (error) {
  // What the page showed when it went wrong, for the test's output and the artifacts.
  await shot(page, 'failure').catch(() => {});
  console.error(`at ${page.url()}:\n${await page.locator('main').innerText().catch(() => '')}`);
  throw error;
} finally {
  await browser.close();
}
