// Draws expanded Adaptive Cards (JSON files in a directory) with the official
// adaptivecards browser bundle in headless Chromium and saves one PNG per card
// next to its JSON. Called by scripts/render-cards.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const [dir, prefix = ''] = process.argv.slice(2);
const bundle = fs.readFileSync(path.join(__dirname, '../tests/cards/node_modules/adaptivecards/dist/adaptivecards.min.js'), 'utf8');

// Close to Teams' light theme: Segoe UI, Teams' status colours and surfaces.
const hostConfig = {
  fontFamily: "'Segoe UI', 'Helvetica Neue', Arial, sans-serif",
  spacing: { small: 4, default: 8, medium: 16, large: 20, extraLarge: 24, padding: 16 },
  separator: { lineThickness: 1, lineColor: '#E0E0E0' },
  fontSizes: { small: 12, default: 14, medium: 16, large: 18, extraLarge: 24 },
  fontWeights: { lighter: 300, default: 400, bolder: 600 },
  actions: { maxActions: 6, spacing: 'default', buttonSpacing: 8, actionsOrientation: 'horizontal', actionAlignment: 'left', showCard: { actionMode: 'inline' } },
  containerStyles: {
    default: { backgroundColor: '#FFFFFF', foregroundColors: {
      default: { default: '#242424', subtle: '#616161' }, accent: { default: '#5B5FC7', subtle: '#5B5FC7' },
      good: { default: '#237B4B', subtle: '#237B4B' }, warning: { default: '#8A5A00', subtle: '#8A5A00' },
      attention: { default: '#C4314B', subtle: '#C4314B' }, dark: { default: '#242424', subtle: '#616161' }, light: { default: '#FFFFFF', subtle: '#F5F5F5' } } },
    emphasis: { backgroundColor: '#F5F5F5', foregroundColors: {
      default: { default: '#242424', subtle: '#616161' }, accent: { default: '#5B5FC7', subtle: '#5B5FC7' },
      good: { default: '#237B4B', subtle: '#237B4B' }, warning: { default: '#8A5A00', subtle: '#8A5A00' },
      attention: { default: '#C4314B', subtle: '#C4314B' }, dark: { default: '#242424', subtle: '#616161' }, light: { default: '#FFFFFF', subtle: '#F5F5F5' } } },
    good: { backgroundColor: '#6BB700' },
    attention: { backgroundColor: '#FDF3F4' },
    warning: { backgroundColor: '#FFF9F5' },
    accent: { backgroundColor: '#E8EBFA' },
  },
};

(async () => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json') && f.startsWith(prefix)).sort();
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1000, height: 800 }, deviceScaleFactor: 1 });
  await page.setContent(`<!DOCTYPE html><html><body style="margin:0;background:#F0F0F0;font-family:'Segoe UI',Arial,sans-serif">
    <style>
      .ac-pushButton { background:#fff; border:1px solid #D1D1D1; border-radius:4px; padding:5px 12px; font:600 14px 'Segoe UI',Arial,sans-serif; color:#242424; cursor:pointer; }
      .ac-pushButton.style-positive { background:#5B5FC7; border-color:#5B5FC7; color:#fff; }
      .ac-pushButton.style-destructive { color:#C4314B; border-color:#C4314B; }
      .ac-selectable { cursor:pointer; }
    </style>
    <div id="frame" style="display:inline-block;padding:16px"><div id="card" style="background:#fff;border:1px solid #E0E0E0;border-radius:6px;overflow:hidden"></div></div>
    <script>${bundle}</script></body></html>`);
  for (const file of files) {
    const card = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const full = card.msteams && card.msteams.width === 'Full';
    const problems = await page.evaluate(({ card, hostConfig, width }) => {
      const AC = window.AdaptiveCards;
      // Teams renders a subset of Markdown; enough of it for the screenshots.
      AC.AdaptiveCard.onProcessMarkdown = (text, result) => {
        const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
        result.outputHtml = '<p style="margin:0">' + escaped.replace(/\*\*(.+?)\*\*/g, '<b>$1</b>').replace(/(^|[^A-Za-z0-9])_([^_]+?)_(?![A-Za-z0-9])/g, '$1<i>$2</i>') + '</p>';
        result.didProcess = true;
      };
      const ac = new AC.AdaptiveCard();
      ac.hostConfig = new AC.HostConfig(hostConfig);
      const ctx = new AC.SerializationContext();
      ac.parse(card, ctx);
      const el = ac.render();
      const holder = document.getElementById('card');
      holder.style.width = width + 'px';
      holder.innerHTML = '';
      holder.appendChild(el);
      const out = [];
      for (let i = 0; i < ctx.eventCount; i++) out.push(ctx.getEventAt(i).message);
      return out;
    }, { card, hostConfig, width: full ? 760 : 460 });
    if (problems.length) console.error(`${file}: ${problems.join('; ')}`);
    const png = path.join(dir, file.replace(/\.json$/, '.png'));
    await page.locator('#frame').screenshot({ path: png });
    console.log(png);
  }
  await browser.close();
})().catch((e) => { console.error(e); process.exit(1); });
