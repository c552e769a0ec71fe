// Lighthouse on the page's signed-in screen, against `make run` (docs/web-app.md): Lighthouse
// starts its own browser profile, which holds no session, so this signs one tab in (an ID token
// from `make token`), gives it three todos, and audits a navigation in that tab with its
// storage kept. Needs the npm packages lighthouse and puppeteer-core, and Debian's chromium.
import puppeteer from 'puppeteer-core';
import {startFlow} from 'lighthouse';
const URL = process.env.TODO_URL, TOKEN = process.env.TODO_TOKEN;
const browser = await puppeteer.launch({executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']});
const page = await browser.newPage();
await page.goto(URL);
await page.evaluate(async (token, api) => {
  sessionStorage.setItem('todo-api.session', JSON.stringify({email: 'audit@example.com', idToken: token, refreshToken: null, expiresAt: Date.now() + 3600e3}));
  await fetch(api + 'todos', {method: 'DELETE', headers: {Authorization: token}});
  for (const [title, completed] of [['buy milk', false], ['walk the dog', true], ['write the report', false]])
    await fetch(api + 'todos', {method: 'POST', headers: {Authorization: token, 'Content-Type': 'application/json'}, body: JSON.stringify({title, completed})});
}, TOKEN, URL);
const flow = await startFlow(page, {flags: {disableStorageReset: true, onlyCategories: ['performance', 'accessibility', 'best-practices', 'seo']}});
await flow.navigate(URL);
const result = await flow.createFlowResult();
const lhr = result.steps[0].lhr;
const visible = await page.evaluate(() => !document.querySelector('#signed-in').hidden && document.querySelectorAll('.todo-list li').length);
console.log('signed in, items shown:', visible);
console.log(JSON.stringify(Object.fromEntries(Object.entries(lhr.categories).map(([k, v]) => [k, v.score]))));
for (const cat of Object.values(lhr.categories)) for (const ref of cat.auditRefs) {
  const a = lhr.audits[ref.id];
  if (a.score !== null && a.score < 1 && ref.weight > 0) console.log(cat.id, ref.id, a.score, a.displayValue || '');
}
await browser.close();
