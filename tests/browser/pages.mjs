// Every console page at a desktop's width (1280 px) and a phone's (375 px), in Debian's headless Chromium
// driven by playwright-core, after what console.mjs made: no page is wider than the window, and an end user's
// Release and Delete are on screen on a phone. On the way, the flows added since: a domain edited, a user's
// password reset, held messages searched, released two at once and one with its sender allowed, an earlier
// chain restored. Screenshots NAME-1280.png and NAME-375.png go to MOAT_ARTIFACTS. Run by tests/tests/browser.rs.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const base = process.env.MOAT_URL;
const artifacts = process.env.MOAT_ARTIFACTS;
const [rootName, rootPassword] = [process.env.MOAT_ADMIN, process.env.MOAT_PASSWORD];
const [userName, userPassword] = [process.env.MOAT_USER, process.env.MOAT_USER_PASSWORD];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync'],
});
const widths = [1280, 375];

async function signIn(page, name, password) {
  await page.goto(`${base}/login`);
  await page.getByLabel('Name or email address').fill(name);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
}

// Pages wider than the window, reported together at the end.
const tooWide = [];

// Opens `url` at each width: the page should be no wider than the window; its screenshot is kept.
async function fits(page, name, url) {
  for (const width of widths) {
    await page.setViewportSize({ width, height: width > 400 ? 900 : 740 });
    const response = await page.goto(`${base}${url}`);
    assert.ok(response.status() < 400, `${url}: ${response.status()}`);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    if (width === 1280) {
      const rows = await page.evaluate(() => new Set([...document.querySelectorAll('header nav a')].map((a) => a.offsetTop)).size);
      if (rows > 1) tooWide.push(`${url}: the navigation takes ${rows} lines at 1280 px`);
    }
    await page.screenshot({ path: path.join(artifacts, `${name}-${width}.png`), fullPage: true });
    if (wide > width) {
      const culprit = await page.evaluate((limit) => {
        const wider = [...document.querySelectorAll('main *')].filter((e) => e.getBoundingClientRect().right > limit);
        const deepest = wider.filter((e) => !wider.some((o) => o !== e && e.contains(o)));
        return deepest.slice(0, 3).map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className ? '.' + e.className : ''}`).join(', ');
      }, width);
      tooWide.push(`${url} is ${wide} px wide at ${width} px (${culprit})`);
    }
  }
}

const context = await browser.newContext();
const page = await context.newPage();
try {
  await signIn(page, rootName, rootPassword);

  // A domain's settings edited after creation.
  await page.goto(`${base}/domains/shop.test`);
  await page.getByRole('link', { name: 'Edit domain' }).click();
  await page.getByLabel('Max users').fill('50');
  await page.getByRole('button', { name: 'Save' }).click();
  await page.waitForURL(/\/domains\/shop\.test\?done=/);
  assert.match(await page.locator('.done').textContent(), /Domain saved/);

  // A user's password reset: the new one shown once, on the answer.
  await page.goto(`${base}/users/ann@shop.test`);
  await page.locator('#reset-password').getByRole('button', { name: 'Reset password' }).click();
  assert.match(await page.locator('#new-password .done').textContent(), /not shown again/);
  assert.match(await page.locator('#new-password code').textContent(), /^[A-Za-z0-9]{12,}$/);

  // The end user's console password, chosen by the admin (the user signs in with it below).
  await page.goto(`${base}/users/${userName}`);
  await page.getByLabel('New password (empty: generated)').fill(userPassword);
  await page.locator('#reset-password').getByRole('button', { name: 'Reset password' }).click();
  assert.match(await page.locator('.done').textContent(), /Password reset\./);

  // Held mail: found by a search, two released at once, the third released with its sender allowed.
  await page.goto(`${base}/quarantine`);
  await page.getByLabel('Search').fill('hold me');
  await page.getByRole('button', { name: 'Search' }).click();
  const rows = page.locator('#quarantine tbody tr');
  assert.equal(await rows.count(), 3);
  await rows.nth(0).locator('input[name=ids]').check();
  await rows.nth(1).locator('input[name=ids]').check();
  await page.locator('p.bulk').getByRole('button', { name: 'Release', exact: true }).click();
  assert.match(await page.locator('.done').textContent(), /Messages released: 2$/);
  await page.locator('#quarantine tbody tr').first().getByRole('button', { name: 'Release and allow sender' }).click();
  assert.match(await page.locator('.done').textContent(), /Messages released and senders allowed: 1/);

  // The chain as it was before the last save, restored.
  await page.goto(`${base}/filtering`);
  const older = page.locator('#chain-history tbody tr').nth(1);
  const version = await older.locator('td').first().textContent();
  await older.getByRole('button', { name: 'Restore' }).click();
  assert.match(await page.locator('.done').textContent(), new RegExp(`Version ${version} restored as version`));

  const logEntry = await page.goto(`${base}/log`).then(() => page.locator('#log tbody a').first().getAttribute('href'));
  for (const [name, url] of [
    ['status', '/'], ['customers', '/tenants'], ['customer', '/tenants/default'], ['domains', '/domains'],
    ['domain', '/domains/shop.test'], ['domain-edit', '/domains/shop.test/edit'],
    ['domain-delete', '/domains/shop.test/delete'], ['directory', '/domains/shop.test/directory'],
    ['users', '/users'], ['user', '/users/ann@shop.test'], ['import', '/import'], ['admins', '/admins'],
    ['admin', '/admins/shopadmin'], ['filtering', '/filtering'], ['filtering-outbound', '/filtering?direction=outbound'],
    ['branding', '/branding'], ['quarantine', '/quarantine'], ['log', '/log'], ['log-entry', logEntry],
    ['queue', '/queue'], ['alerts', '/alerts'], ['lists', '/lists'], ['domain-lists', '/lists?owner=acme.test'],
    ['account', '/account'], ['tokens', '/account/tokens'],
  ]) {
    await fits(page, name, url);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(/\/login/);
  await fits(page, 'login', '/login');

  // An end user on a phone: its held message, and Release and Delete within reach.
  await signIn(page, userName, userPassword);
  await fits(page, 'user-quarantine', '/quarantine');
  const preview = await page.locator('#quarantine tbody tr').first().locator('a').first().getAttribute('href');
  await fits(page, 'user-held', preview);
  await fits(page, 'user-lists', '/lists');
  await fits(page, 'user-account', '/account');
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto(`${base}/quarantine`);
  for (const name of ['Release', 'Delete']) {
    const button = page.locator('#quarantine tbody tr').first().getByRole('button', { name, exact: true });
    const box = await button.boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 375, `${name} at ${JSON.stringify(box)} on a 375 px screen`);
  }
  assert.deepEqual(tooWide, [], 'pages wider than the window');
  console.log('layout scenario passed');
} catch (error) {
  await page.screenshot({ path: path.join(artifacts, 'layout-failure.png'), fullPage: true }).catch(() => {});
  console.error(`at ${page.url()}:\n${await page.locator('main').innerText().catch(() => '')}`);
  throw error;
} finally {
  await browser.close();
}
