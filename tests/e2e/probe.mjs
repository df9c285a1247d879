#!/usr/bin/env node
// How the Agents Playground treats card updates and `adaptiveCard/action`
// invokes, measured rather than assumed: a stand-in bot on loopback answers
// each button with a different invoke body, and posts/updates activities
// through the Playground's mock connector while chromium watches the page.
// The findings are written up in README.md; rerun this after a Playground
// upgrade (`node tests/e2e/probe.mjs`, ~10 s) and compare.

import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const TIMEOUT = 15000;
const conversation = 'probe';
const invokes = [];

// Each button's verb picks the invoke answer; the body is what the bot returns over HTTP.
const ANSWERS = {
  card: { status: 200, body: { statusCode: 200, type: 'application/vnd.microsoft.card.adaptive', value: card('replaced by the invoke answer') } },
  message: { status: 200, body: { statusCode: 200, type: 'application/vnd.microsoft.activity.message', value: 'a message answer' } },
  error: { status: 200, body: { statusCode: 400, type: 'application/vnd.microsoft.error', value: { code: 'Bad', message: 'an error answer' } } },
  empty: { status: 200, body: null },
  http500: { status: 500, body: null },
  // The bot PUTs a progress card to the clicked activity before it answers the invoke.
  race: { status: 200, body: { statusCode: 200, type: 'application/vnd.microsoft.card.adaptive', value: card('invoke answer (older)') }, putFirst: 'progress PUT during the invoke (newer)' },
};
let connectorBase;

function card(text, verbs = []) {
  return {
    type: 'AdaptiveCard', version: '1.5', body: [{ type: 'TextBlock', text, wrap: true }],
    actions: verbs.map((verb) => ({ type: 'Action.Execute', title: verb, verb, data: { probe: verb } })),
  };
}
const asActivity = (content, extra = {}) => ({
  type: 'message', from: { id: 'bot', name: 'probe' },
  attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content }], ...extra,
});

const bot = createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', async () => {
    const activity = JSON.parse(raw || '{}');
    if (activity.type === 'invoke') {
      invokes.push(activity);
      const answer = ANSWERS[activity.value?.action?.verb] ?? ANSWERS.card;
      if (answer.putFirst) {
        const url = `${connectorBase}/${activity.replyToId}`;
        const res = await fetch(url, { method: 'PUT', headers: { 'content-type': 'application/json' },
          body: JSON.stringify(asActivity(card(answer.putFirst), { id: activity.replyToId })) });
        activity.putDuringInvokeStatus = res.status;
      }
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      return res.end(answer.body ? JSON.stringify(answer.body) : '');
    }
    res.writeHead(200).end();
  });
});
await new Promise((r) => bot.listen(0, '127.0.0.1', r));

const work = mkdtempSync(join(tmpdir(), 'drbot-probe-'));
const cli = join(here, 'node_modules', '@microsoft', 'm365agentsplayground', 'cli.js');
const pg = spawn(process.execPath, [cli, '-e', `http://127.0.0.1:${bot.address().port}/api/messages`, '-c', 'msteams',
  '--disable-telemetry', '-p', '0', '--conversation-id', conversation],
{ cwd: work, env: { ...process.env, NODE_OPTIONS: `--require ${join(here, 'loopback.cjs')}` }, stdio: ['ignore', 'pipe', 'inherit'] });
let browser;
const report = {};
try {
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the Playground did not start')), TIMEOUT);
    pg.stdout.on('data', (d) => {
      const m = String(d).match(/Listening on (\d+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
  const base = `http://127.0.0.1:${port}`;
  const connector = `${base}/_connector/v3/conversations/${conversation}/activities`;
  connectorBase = connector;
  const userData = join(work, 'chromium');
  mkdirSync(userData);
  browser = await chromium.launchPersistentContext(userData, {
    executablePath: process.env.DRBOT_E2E_CHROMIUM ?? '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 900 },
  });
  const page = browser.pages()[0] ?? (await browser.newPage());
  await page.goto(`${base}/`);
  await page.locator('[data-lexical-editor="true"]').waitFor({ timeout: TIMEOUT });
  const messages = page.locator('div:has(> [aria-label="Message header"] > [aria-label="Message author"])');
  const texts = async () => (await messages.allInnerTexts()).map((t) => t.replace(/\n+/g, ' | '));
  const until = async (what, check, timeout = TIMEOUT) => {
    const deadline = Date.now() + timeout;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; page: ${JSON.stringify(await texts())}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const send = async (method, url, body) => {
    const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.text() };
  };

  // 1. A card posted, then replaced with PUT on its id.
  const posted = await send('POST', connector, asActivity(card('progress 1 of 3')));
  const { id } = JSON.parse(posted.body);
  await until('the posted card', async () => (await texts()).some((t) => t.includes('progress 1 of 3')));
  const countBefore = await messages.count();
  const put = await send('PUT', `${connector}/${id}`, asActivity(card('progress 3 of 3'), { id }));
  await until('the PUT update', async () => (await texts()).some((t) => t.includes('progress 3 of 3')));
  report.post = posted;
  report.put = { ...put, inPlace: (await messages.count()) === countBefore && !(await texts()).some((t) => t.includes('progress 1 of 3')) };
  const bare = await send('PUT', `${connector}/${id}`, asActivity(card('updated without an id in the body')));
  report.putWithoutIdInBody = { ...bare, shown: await until('the bare PUT', async () =>
    (await texts()).some((t) => t.includes('updated without an id in the body')), 5000).then(() => true, () => false) };
  report.putUnknownId = await send('PUT', `${connector}/no-such-activity`, asActivity(card('nowhere'), { id: 'no-such-activity' }));

  // 2. One card per invoke answer; click each button and record what the page shows.
  for (const verb of Object.keys(ANSWERS)) {
    const sent = await send('POST', connector, asActivity(card(`buttons for ${verb}`, [verb])));
    const msgId = JSON.parse(sent.body).id;
    await until(`the ${verb} card`, async () => (await texts()).some((t) => t.includes(`buttons for ${verb}`)));
    const message = messages.filter({ hasText: `buttons for ${verb}` }).last();
    const n = await messages.count();
    const seen = invokes.length;
    await message.locator('button').filter({ hasText: new RegExp(`^${verb}$`) }).click();
    await until(`the ${verb} invoke`, async () => invokes.length > seen);
    await until(`the page after the ${verb} invoke`, async () => {
      const t = await messages.nth(n - 1).innerText();
      return /sent to the app|answer|Unable to reach/i.test(t) || /Unable to reach app/.test(await page.innerText('body'));
    }, 5000).catch(() => {});
    const invoke = invokes.at(-1);
    if (verb === 'card') report.invokeKeys = Object.keys(invoke).sort();
    report[`invoke_${verb}`] = {
      invokeActivity: { name: invoke.name, value: invoke.value, replyToId: invoke.replyToId, putDuringInvokeStatus: invoke.putDuringInvokeStatus, matchesPostedId: invoke.replyToId === msgId },
      messagesAdded: (await messages.count()) - n,
      unableToReachShown: /Unable to reach app/.test(await page.innerText('body')),
      clickedMessageNow: (await messages.nth(n - 1).innerText()).replace(/\n+/g, ' | '),
    };
    // 3. After the invoke answered, a PUT on the same activity id still updates it?
    if (verb === 'card') {
      const again = await send('PUT', `${connector}/${msgId}`, asActivity(card('updated after the invoke'), { id: msgId }));
      await until('the PUT after the invoke', async () => (await messages.nth(n - 1).innerText()).includes('updated after the invoke'))
        .then(() => { report.putAfterInvoke = { ...again, shown: true }; }, () => { report.putAfterInvoke = { ...again, shown: false }; });
    }
  }
  // 4. DELETE removes the message?
  const doomed = JSON.parse((await send('POST', connector, asActivity(card('to be deleted')))).body).id;
  await until('the card to delete', async () => (await texts()).some((t) => t.includes('to be deleted')));
  const deleted = await send('DELETE', `${connector}/${doomed}`);
  report.delete = { ...deleted, removed: await until('the deletion', async () =>
    !(await texts()).some((t) => t.includes('to be deleted')), 5000).then(() => true, () => false) };
  console.log(JSON.stringify(report, null, 2));
} finally {
  if (browser) await browser.close().catch(() => {});
  pg.kill('SIGTERM');
  bot.close();
  rmSync(work, { recursive: true, force: true });
}
