#!/usr/bin/env node
// Each person's view of one card, drawn side by side by the real Adaptive
// Cards renderer (the `adaptivecards` package, tests/cards) in chromium.
//
// Why not the Agents Playground: it sends no per-person `refresh` (a group
// chat's plan card lists `refresh.userIds`, and each listed person's Teams
// client asks drbot for their own view; the Playground shows the card as
// posted and says "User specific view is not supported yet"). So
// tests/e2e_browser.rs plays the group chat in the sandbox's Teams, collects
// the card drbot answered each person's refresh with, and this script draws
// those cards as they are, checks the buttons each person is shown (and a
// text each must show), and saves one screenshot.
//
//   node tests/e2e/views.mjs SPEC.json
//
// SPEC: {"screenshot": PATH, "views": [{"who": "Alice Admin", "card": {...},
// "buttons": ["Run", "Cancel"], "text": "…"}]}. Exit 0 when every view shows
// exactly its buttons and its text; otherwise 1 with what differs.
// Environment: DRBOT_E2E_CHROMIUM (default /usr/bin/chromium).

import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const renderer = join(here, '..', 'cards', 'node_modules', 'adaptivecards', 'dist');
const executablePath = process.env.DRBOT_E2E_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

// Teams' light theme, as far as the renderer's host config reaches.
const HOST_CONFIG = {
  fontFamily: "'Segoe UI', system-ui, sans-serif",
  spacing: { small: 4, default: 12, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  containerStyles: {
    default: { backgroundColor: '#FFFFFF', foregroundColors: {
      default: { default: '#242424', subtle: '#616161' }, accent: { default: '#5B5FC7' },
      good: { default: '#13A10E' }, warning: { default: '#C19C00' }, attention: { default: '#C4314B' } } },
    emphasis: { backgroundColor: '#F5F5F5', foregroundColors: { default: { default: '#242424', subtle: '#616161' } } },
  },
  actions: { actionsOrientation: 'horizontal', buttonSpacing: 8, maxActions: 6, showCard: { actionMode: 'inline' } },
};

async function main() {
  const [specPath] = process.argv.slice(2);
  if (!specPath) throw new Error('usage: node tests/e2e/views.mjs SPEC.json');
  if (!existsSync(join(renderer, 'adaptivecards.js'))) {
    throw new Error(`the adaptivecards package is missing at ${renderer}: npm ci in tests/cards`);
  }
  if (!existsSync(executablePath)) throw new Error(`chromium not found at ${executablePath}: run tests/e2e/setup.sh`);
  const spec = JSON.parse(readFileSync(specPath, 'utf8'));
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_FLAGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.setContent(`<!doctype html><html><head><meta charset="utf-8"><style>
      body { margin: 0; background: #EBEBEB; font-family: 'Segoe UI', system-ui, sans-serif; }
      #views { display: flex; flex-wrap: wrap; gap: 24px; padding: 24px; align-items: flex-start; }
      .view { width: 540px; }
      .who { font-size: 14px; font-weight: 600; color: #424242; margin: 0 0 8px 4px; }
      .card { background: #FFF; border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.15); overflow: hidden; }
      .ac-pushButton { border: 1px solid #D1D1D1; border-radius: 4px; background: #FFF; padding: 6px 12px;
        font: 600 14px 'Segoe UI', system-ui, sans-serif; color: #242424; }
    </style></head><body><div id="views"></div></body></html>`);
    await page.addStyleTag({ path: join(renderer, 'adaptivecards.css') }).catch(() => {});
    await page.addScriptTag({ path: join(renderer, 'adaptivecards.js') });
    const drawn = await page.evaluate(({ views, hostConfig }) => {
      const AC = window.AdaptiveCards;
      // Teams draws a TextBlock's **bold**; the renderer leaves
      // markdown to its host, so this page does the part drbot's cards use.
      AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
        const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
        result.outputHtml = escaped.replace(/\*\*(.+?)\*\*/g, '<strong>$1</strong>');
        result.didProcess = true;
      };
      return views.map((view) => {
        const card = new AC.AdaptiveCard();
        card.hostConfig = new AC.HostConfig(hostConfig);
        const context = new AC.SerializationContext();
        card.parse(view.card, context);
        const problems = [];
        for (let i = 0; i < context.eventCount; i++) problems.push(context.getEventAt(i).message);
        const rendered = card.render();
        const column = document.createElement('div');
        column.className = 'view';
        column.innerHTML = `<p class="who"></p><div class="card"></div>`;
        column.querySelector('.who').textContent = view.who;
        column.querySelector('.card').appendChild(rendered);
        document.getElementById('views').appendChild(column);
        const buttons = [...rendered.querySelectorAll('button')].map((b) => b.textContent.trim());
        return { who: view.who, buttons, text: rendered.innerText, problems };
      });
    }, { views: spec.views, hostConfig: HOST_CONFIG });
    const failures = [];
    spec.views.forEach((view, i) => {
      const got = drawn[i];
      if (got.problems.length) failures.push(`${view.who}: the renderer reported ${got.problems.join('; ')}`);
      if (JSON.stringify(got.buttons) !== JSON.stringify(view.buttons)) {
        failures.push(`${view.who}: buttons ${JSON.stringify(got.buttons)}, expected ${JSON.stringify(view.buttons)}`);
      }
      if (view.text && !got.text.includes(view.text)) failures.push(`${view.who}: no "${view.text}" in:\n${got.text}`);
      console.log(`${view.who}: buttons ${JSON.stringify(got.buttons)}`);
    });
    mkdirSync(dirname(spec.screenshot), { recursive: true });
    await page.locator('#views').screenshot({ path: spec.screenshot });
    if (failures.length) {
      console.error(failures.join('\n'));
      process.exitCode = 1;
    } else {
      console.log(`ok   views (${spec.views.length}) → ${spec.screenshot}`);
    }
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(error.stack ?? String(error));
  process.exitCode = 1;
});
