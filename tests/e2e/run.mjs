#!/usr/bin/env node
// drbot's browser end-to-end suite: the sandbox and drbot (local anonymous
// mode), the Microsoft 365 Agents Playground pointed at drbot, and Debian's
// chromium driven by playwright-core as a person would use Teams: type a
// command, wait for the card, click its buttons. Each step leaves a screenshot
// in docs/screenshots/. The Playground renders cards as Teams does, so this is
// the check that what the unit tests send actually looks and behaves right.
//
//   node tests/e2e/run.mjs                      the steps marked ready below
//   node tests/e2e/run.mjs --steps=status,run   these (and what they need)
//   DRBOT_E2E_STEPS=all node tests/e2e/run.mjs  every step, ready or not
//
// Environment: DRBOT_E2E_STEPS (as --steps), DRBOT_E2E_TIMEOUT_MS (one wait,
// default 20000), DRBOT_E2E_RESULT_TIMEOUT_MS (a replication to finish,
// default 120000), DRBOT_E2E_DEADLINE_MS (the whole run, default 300000),
// DRBOT_E2E_CHROMIUM (default /usr/bin/chromium), DRBOT_E2E_SCREENSHOTS
// (default docs/screenshots), DRBOT_E2E_BIN_DIR (where
// drbot and drbot-sandbox are, default target/debug), DRBOT_E2E_NO_BUILD=1
// (do not run cargo build first), DRBOT_E2E_KEEP=1 (keep the work directory
// with the logs even on success).

import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// ---------------------------------------------------------------------------
// The steps, in the order a person would take them. `ready: true` runs by
// default; flip a step on once its command lands. `needs` are run first.
// The screenshot of step N is docs/screenshots/<NN>-<id>.png (NN = position,
// or the step's own `number` where the position's is taken).
// ---------------------------------------------------------------------------
const STEPS = [
  { id: 'welcome', ready: true, run: welcome },
  { id: 'help', ready: true, run: help },
  { id: 'show-commands', ready: true, run: showCommands },
  { id: 'whoami', ready: true, run: whoami },
  { id: 'status', ready: true, run: status },
  { id: 'replicate-dry-run', ready: true, run: replicateDryRun },
  { id: 'run', ready: true, needs: ['replicate-dry-run'], run: runPlan },
  { id: 'result', ready: true, needs: ['run'], run: result },
  { id: 'subscribe', ready: true, run: subscribe },
  { id: 'history-chart', ready: true, run: historyChart },
  // 11-13 are the per-person views drawn by tests/e2e_browser.rs.
  { id: 'drill', number: '14', ready: true, run: drill },
];

// What the cards must (and must not) say. Kept here so a wording change is a
// one-line edit, not a hunt through the steps.
const EXPECT = {
  welcome: [/Hi, I'm drbot/, /Show commands/],
  help: [/drbot commands/, /help \[command\]/, /whoami/, /signout/],
  signIn: [/Sign in so drbot can act for you/, /Sign in/],
  status: [/readiness|ready/i, /primary/i, /secondary/i, /RPO|drift/i],
  plan: [/Replication plan/, /\d+ actions?/],
  progress: /running|in progress|started|replicating|\d+\s*(of|\/)\s*\d+/i,
  resultDone: /Replication succeeded/,
  resultObjects: /Succeeded\s*\|?\s*[1-9]\d*/,
  subscribe: [/daily/i, /08:00/],
  chartFallbacks: [/Worst RPO by day \(min\):/, /Drift by day \(objects\):/],
  runbook: [/Drill of pair default/, /One person with the failover role approves it/],
  drillDone: /Completed: the drill left both sides as they were/,
};
// A reply matching one of these is a wrong answer: fail at once, not after a timeout.
const WRONG = [
  [/is not available yet/, 'drbot answered "not available yet": the command has not landed in this build'],
  [/Something went wrong/, 'drbot answered with its error card'],
  [/I don't know that one/, 'drbot did not recognise the command'],
  [/Unable to reach app/, 'the Playground could not reach drbot (invoke failed)'],
];
const SIGN_IN = [/Sign in so drbot can act for you/, 'drbot asked to sign in (the Playground has no Teams SSO)'];
const PLAN_RUN_BUTTON = 'Run';
const DRILL_BUTTON = 'Run drill';

// ---------------------------------------------------------------------------
// The steps themselves. `ui` is the page helper below.
// ---------------------------------------------------------------------------

/** The Playground installs the bot on page load; drbot greets with its welcome card. */
async function welcome(ui) {
  const message = await ui.botMessage(0);
  await ui.expectText(message, EXPECT.welcome);
  await ui.expectButton(message, 'Show commands');
  return message;
}

/** Typing `help` answers with the card listing what works. */
async function help(ui) {
  const reply = await ui.ask('help', { expect: EXPECT.help });
  await ui.expectText(reply, EXPECT.help);
  return reply;
}

/**
 * The welcome card's button is an Action.Execute: the Playground sends an
 * `adaptiveCard/action` invoke and puts the card drbot answers with in place
 * of the welcome card; no new message appears.
 */
async function showCommands(ui) {
  const before = await ui.botTexts();
  const welcomeCard = await ui.botMessage(0);
  await ui.clickButton(welcomeCard, 'Show commands');
  await ui.waitFor('the welcome card to be replaced by the help card', async () => {
    const text = await welcomeCard.innerText();
    ui.rejectWrong(text);
    return EXPECT.help.every((re) => re.test(text)) && !/Hi, I'm drbot/.test(text);
  });
  const after = await ui.botTexts();
  if (after.length !== before.length) {
    throw new Error(`the invoke added a message instead of replacing the card (${before.length} → ${after.length})`);
  }
  return welcomeCard;
}

/**
 * `whoami` acts for the person, so drbot first asks them to sign in. The
 * Playground has no Teams SSO token exchange, so the sign-in card is as far as
 * this goes in local anonymous mode; the step checks that card renders.
 */
async function whoami(ui) {
  const reply = await ui.ask('whoami', { expect: EXPECT.signIn, allowSignIn: true });
  await ui.expectButton(reply, 'Sign in');
  return reply;
}

/** `status`: the readiness dashboard for both workspaces. */
async function status(ui) {
  const reply = await ui.ask('status', { expect: EXPECT.status });
  return reply;
}

/**
 * The dashboard's last seven days as Teams draws them: readings of six
 * earlier days go into drbot's store (as its scheduled checks would have
 * recorded them), then `status` answers with the worst-RPO line and the
 * drift bars. The Playground has Teams' chart elements, so the charts must be
 * drawn (an `svg` each), with the seeded days on their axes, and their text
 * fallbacks must not be what shows.
 */
async function historyChart(ui) {
  const day = 86_400_000;
  const now = Date.now();
  const rows = [6, 5, 4, 3, 2, 1].map((ago, i) => {
    const rpoMin = [95, 80, 61, 44, 30, 18][i];
    const drift = [21, 17, 12, 9, 5, 3][i];
    return `('default', ${now - ago * day}, 'check', ${rpoMin * 60_000}, ${drift}, NULL, NULL, NULL)`;
  });
  const sql = `INSERT INTO readiness_history (pair, at_ms, source, worst_rpo_ms, drift, run_id, outcome, duration_ms) VALUES ${rows.join(', ')};`;
  const seeded = spawnSync('sqlite3', [ui.state.storeFile, sql], { encoding: 'utf8' });
  if (seeded.error || seeded.status !== 0) {
    throw new Error(`seeding the readings failed (sqlite3 missing? run tests/e2e/setup.sh): ${seeded.error ?? seeded.stderr}`);
  }
  const reply = await ui.ask('status', { expect: EXPECT.status });
  // The dashboard replaces "Checking readiness" in place: wait for the charts in it.
  // The axis labels as drbot writes them (chrono's `%-d %b`, UTC).
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const labels = [6, 1].map((ago) => {
    const d = new Date(now - ago * day);
    return `${d.getUTCDate()} ${months[d.getUTCMonth()]}`;
  });
  // A drawn chart is an svg whose points are images labelled "<day>, <series> <value>".
  const charts = reply.locator('svg:has(g[role="img"][aria-label])');
  await ui.waitFor('the dashboard with its two charts', async () => (await charts.count()) >= 2);
  const points = await charts.locator('g[role="img"][aria-label]').evaluateAll((gs) => gs.map((g) => g.getAttribute('aria-label')));
  for (const expected of [`${labels[0]}, Worst RPO (min) 95`, `${labels[1]}, Worst RPO (min) 18`]) {
    if (!points.includes(expected)) throw new Error(`the RPO line lacks the point "${expected}": ${points.join(' | ')}`);
  }
  if (!points.some((p) => p.startsWith(`${labels[0]},`) && / 21$/.test(p))) {
    throw new Error(`the drift bars lack ${labels[0]}'s 21 objects: ${points.join(' | ')}`);
  }
  const text = await reply.innerText();
  for (const fallback of EXPECT.chartFallbacks) {
    if (fallback.test(text)) throw new Error(`a chart's text fallback shows instead of the chart:\n${text}`);
  }
  return charts.first();
}

/** `replicate`: the plan, with a Run button to carry it out (a dry run has none). */
async function replicateDryRun(ui) {
  const reply = await ui.ask('replicate', { expect: EXPECT.plan });
  await ui.expectButton(reply, PLAN_RUN_BUTTON);
  ui.state.plan = reply;
  ui.state.planText = await reply.innerText();
  return reply;
}

/**
 * Clicking Run on the plan card starts the replication: the plan card turns
 * into live progress (replaced by the invoke answer, then updated in place)
 * or a progress message follows it.
 */
async function runPlan(ui) {
  const plan = ui.state.plan ?? (await ui.newestMessageWithButton(PLAN_RUN_BUTTON));
  const before = await ui.botTexts();
  await ui.clickButton(plan, PLAN_RUN_BUTTON);
  let where = plan;
  ui.state.runBaseline = before.length;
  await ui.waitFor('progress after clicking Run', async () => {
    const texts = await ui.botTexts();
    // Only what came after the click can be a wrong answer to it (whoami's
    // sign-in card from an earlier step stays on the page).
    for (const t of texts.slice(before.length)) ui.rejectWrong(t);
    // In place: the plan card became a progress card (its Run button gone, so a
    // plan that merely mentions "3 of 5" plus the Playground's note does not count).
    const planNow = (await plan.innerText()).replace(/Your response was sent to the app/, '');
    const runGone = (await ui.button(plan, PLAN_RUN_BUTTON).count()) === 0;
    if (runGone && planNow !== ui.state.planText && (EXPECT.progress.test(planNow) || EXPECT.resultDone.test(planNow))) {
      where = plan;
      return true;
    }
    for (let i = before.length; i < texts.length; i++) {
      if (EXPECT.progress.test(texts[i]) || EXPECT.resultDone.test(texts[i])) {
        where = await ui.botMessage(i);
        return true;
      }
    }
    return false;
  });
  ui.state.progress = where;
  return where;
}

/** The replication finishes: the card shows the outcome and a per-object count. */
async function result(ui) {
  let where = ui.state.progress;
  await ui.waitFor(
    'the result card',
    async () => {
      const texts = await ui.botTexts();
      for (const t of texts.slice(ui.state.runBaseline ?? 0)) ui.rejectWrong(t);
      for (let i = texts.length - 1; i >= 0; i--) {
        if (EXPECT.resultDone.test(texts[i]) && EXPECT.resultObjects.test(texts[i])) {
          where = await ui.botMessage(i);
          return true;
        }
      }
      return false;
    },
    config.resultTimeoutMs,
  );
  const text = await where.innerText();
  if (/\bFailed\s+[1-9]\d*/.test(text)) throw new Error(`the replication reports failures:\n${text}`);
  return where;
}

/** `subscribe daily 08:00`: drbot confirms the schedule for this chat. */
async function subscribe(ui) {
  return ui.ask('subscribe daily 08:00', { expect: EXPECT.subscribe });
}

/**
 * `drill --override`: the drill's runbook card with Run drill (the local
 * demo user holds the failover role, and a drill needs one approval); the
 * click runs it on the sandbox, in place, to its one result card.
 * `--override`: the seeded primary has tables replication cannot copy.
 */
async function drill(ui) {
  const runbook = await ui.ask('drill --override', { expect: EXPECT.runbook });
  await ui.expectButton(runbook, DRILL_BUTTON);
  const before = (await ui.botTexts()).length;
  await ui.clickButton(runbook, DRILL_BUTTON);
  await ui.waitFor(
    'the drill to complete in its card',
    async () => {
      const texts = await ui.botTexts();
      for (const t of texts.slice(before)) ui.rejectWrong(t);
      const text = await runbook.innerText();
      ui.rejectWrong(text);
      if (/Stopped at|Could not run|Cancelled before/.test(text)) throw new Error(`the drill did not complete:\n${text}`);
      return EXPECT.drillDone.test(text) && (await ui.button(runbook, DRILL_BUTTON).count()) === 0;
    },
    config.resultTimeoutMs,
  );
  return runbook;
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const argSteps = process.argv.find((a) => a.startsWith('--steps='))?.slice('--steps='.length);
const config = {
  steps: argSteps ?? process.env.DRBOT_E2E_STEPS ?? 'ready',
  timeoutMs: Number(process.env.DRBOT_E2E_TIMEOUT_MS ?? 20000),
  resultTimeoutMs: Number(process.env.DRBOT_E2E_RESULT_TIMEOUT_MS ?? 120000),
  deadlineMs: Number(process.env.DRBOT_E2E_DEADLINE_MS ?? 300000),
  chromium: process.env.DRBOT_E2E_CHROMIUM ?? '/usr/bin/chromium',
  binDir: resolve(root, process.env.DRBOT_E2E_BIN_DIR ?? 'target/debug'),
  build: !(process.env.DRBOT_E2E_NO_BUILD === '1' || process.argv.includes('--no-build')),
  keep: process.env.DRBOT_E2E_KEEP === '1',
  screenshots: resolve(root, process.env.DRBOT_E2E_SCREENSHOTS ?? 'docs/screenshots'),
  conversationId: 'drbot-e2e',
};
const CHROMIUM_FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync',
];

/** The steps to run: the selection, plus what they need, in list order. */
function selectSteps(selection) {
  const ids = STEPS.map((s) => s.id);
  let wanted;
  if (selection === 'ready') wanted = STEPS.filter((s) => s.ready).map((s) => s.id);
  else if (selection === 'all') wanted = ids;
  else wanted = selection.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((id) => !ids.includes(id));
  if (unknown.length) throw new Error(`unknown step(s) ${unknown.join(', ')}; the steps are: ${ids.join(', ')}`);
  const chosen = new Set();
  const add = (id) => {
    if (chosen.has(id)) return;
    for (const need of STEPS.find((s) => s.id === id).needs ?? []) add(need);
    chosen.add(id);
  };
  wanted.forEach(add);
  return STEPS.map((s, i) => ({ ...s, number: s.number ?? String(i + 1).padStart(2, '0') })).filter((s) => chosen.has(s.id));
}

// ---------------------------------------------------------------------------
// Processes: each started one is stopped on the way out, failure or not.
// ---------------------------------------------------------------------------
const started = [];
let browser;

/** Starts `command`; its output goes to `<work>/<name>.log` and, line by line, to `lineMatching`. */
function start(name, command, args, { cwd, env, work }) {
  const log = createWriteStream(join(work, `${name}.log`));
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { name, child, log: join(work, `${name}.log`), lines: [], waiters: [], exited: null };
  const feed = (stream) => {
    let rest = '';
    stream.on('data', (chunk) => {
      log.write(chunk);
      rest += chunk.toString('utf8');
      const parts = rest.split('\n');
      rest = parts.pop();
      for (const line of parts) {
        proc.lines.push(line);
        for (const w of proc.waiters) w(line);
      }
    });
  };
  feed(child.stdout);
  feed(child.stderr);
  proc.done = new Promise((res) => child.on('exit', (code, signal) => {
    proc.exited = { code, signal };
    log.end();
    res();
  }));
  child.on('error', (error) => {
    proc.exited = { error };
    proc.lines.push(`spawn failed: ${error.message}`);
  });
  started.push(proc);
  return proc;
}

/** The first output line of `proc` matching `re`, within the timeout. */
function lineMatching(proc, re, what, timeoutMs = config.timeoutMs) {
  return new Promise((res, rej) => {
    const hit = proc.lines.map((l) => l.match(re)).find(Boolean);
    if (hit) return res(hit);
    const timer = setTimeout(() => rej(new Error(`${proc.name}: no ${what} within ${timeoutMs} ms; see ${proc.log}`)), timeoutMs);
    const check = (line) => {
      const m = line.match(re);
      if (m) { clearTimeout(timer); res(m); }
    };
    proc.waiters.push(check);
    proc.done.then(() => {
      clearTimeout(timer);
      rej(new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}) before its ${what}; see ${proc.log}`));
    });
  });
}

/** Closes chromium, then SIGTERM in reverse start order, SIGKILL what has not exited after 5 s. */
async function stopAll() {
  if (browser) {
    const closing = browser;
    browser = null;
    await Promise.race([closing.close().catch(() => {}), delay(5000)]);
  }
  for (const proc of started.reverse()) {
    if (proc.exited) continue;
    proc.child.kill('SIGTERM');
    const stopped = await Promise.race([proc.done.then(() => true), delay(5000).then(() => false)]);
    if (!stopped) {
      proc.child.kill('SIGKILL');
      await proc.done;
    }
  }
  started.length = 0;
}

function delay(ms) {
  return new Promise((res) => setTimeout(res, ms).unref());
}

// ---------------------------------------------------------------------------
// The page, as a person sees it
// ---------------------------------------------------------------------------
class Ui {
  constructor(page) {
    this.page = page;
    this.state = {};
    // A bot message: the element holding a message header with an author
    // (the user's own bubbles have none). Its text is header + card.
    this.messages = page.locator('div:has(> [aria-label="Message header"] > [aria-label="Message author"])');
  }

  async botTexts() {
    return this.messages.allInnerTexts();
  }

  async botMessage(index) {
    await this.waitFor(`bot message #${index + 1}`, async () => (await this.messages.count()) > index);
    return this.messages.nth(index);
  }

  /** Polls `check` every 100 ms until it is true or the timeout passes. */
  async waitFor(what, check, timeoutMs = config.timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await check()) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await delay(100);
    }
  }

  rejectWrong(text, { allowSignIn = false } = {}) {
    for (const [re, why] of allowSignIn ? WRONG : [...WRONG, SIGN_IN]) {
      if (re.test(text)) throw new Error(`${why}:\n${text}`);
    }
  }

  /** Types `text` into the compose box and waits for a new bot message matching all of `expect`. */
  async ask(text, { expect, allowSignIn = false }) {
    const before = (await this.botTexts()).length;
    const box = this.page.locator('[data-lexical-editor="true"]');
    await box.click({ timeout: config.timeoutMs });
    await this.page.keyboard.type(text);
    await this.page.keyboard.press('Enter');
    let found = -1;
    await this.waitFor(`drbot's answer to "${text}" (${expect.map(String).join(', ')})`, async () => {
      const texts = await this.botTexts();
      for (let i = before; i < texts.length; i++) {
        this.rejectWrong(texts[i], { allowSignIn });
        if (expect.every((re) => re.test(texts[i]))) { found = i; return true; }
      }
      return false;
    });
    return this.messages.nth(found);
  }

  async expectText(message, patterns) {
    const text = await message.innerText();
    const missing = patterns.filter((re) => !re.test(text));
    if (missing.length) throw new Error(`the message lacks ${missing.join(', ')}:\n${text}`);
  }

  /**
   * A card button by its visible title. Matched on text, not accessible name:
   * the Playground labels OAuthCard buttons by a tooltip id, not their title.
   */
  button(message, title) {
    const exact = new RegExp(`^\\s*${title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`);
    return message.locator('button').filter({ hasText: exact });
  }

  async expectButton(message, title) {
    const count = await this.button(message, title).count();
    if (count === 0) throw new Error(`the card has no "${title}" button:\n${await message.innerText()}`);
  }

  async clickButton(message, title) {
    await this.expectButton(message, title);
    await this.button(message, title).first().click({ timeout: config.timeoutMs });
  }

  async newestMessageWithButton(title) {
    const count = await this.messages.count();
    for (let i = count - 1; i >= 0; i--) {
      if ((await this.button(this.messages.nth(i), title).count()) > 0) return this.messages.nth(i);
    }
    throw new Error(`no card with a "${title}" button on the page`);
  }

  async screenshot(message, path) {
    if (message) await message.scrollIntoViewIfNeeded({ timeout: config.timeoutMs });
    await this.page.screenshot({ path });
  }

  async printBotMessages() {
    const texts = await this.botTexts().catch((e) => [`(could not read the page: ${e.message})`]);
    console.error(`--- the page's bot messages (${texts.length}) ---`);
    texts.forEach((t, i) => console.error(`[${i + 1}] ${t.replace(/\n+/g, ' | ')}`));
  }
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------
async function main() {
  const steps = selectSteps(config.steps);
  if (!existsSync(config.chromium)) {
    throw new Error(`chromium not found at ${config.chromium}: run tests/e2e/setup.sh (apt-get install chromium)`);
  }
  const playgroundCli = join(here, 'node_modules', '@microsoft', 'm365agentsplayground', 'cli.js');
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new Error('playwright-core is not installed: run tests/e2e/setup.sh (npm ci in tests/e2e)');
  }
  if (!existsSync(playgroundCli)) throw new Error('the Agents Playground is not installed: run tests/e2e/setup.sh');

  if (config.build) {
    const cargo = process.env.CARGO ?? 'cargo';
    const built = spawnSync(cargo, ['build', '--quiet', '-p', 'drbot', '--bin', 'drbot', '-p', 'drbot-sandbox', '--bin', 'drbot-sandbox'],
      { cwd: root, stdio: 'inherit' });
    if (built.status !== 0) throw new Error('cargo build failed');
  }
  for (const bin of ['drbot', 'drbot-sandbox']) {
    if (!existsSync(join(config.binDir, bin))) throw new Error(`${join(config.binDir, bin)} is missing: cargo build --bins --workspace`);
  }

  // Failure screenshots of an earlier run would mislead: they go first.
  for (const name of [...STEPS.map((s) => s.id), 'setup']) rmSync(join(here, `failure-${name}.png`), { force: true });
  const work = mkdtempSync(join(tmpdir(), 'drbot-e2e-'));
  const t0 = Date.now();
  let ui;
  let current;
  try {
    // The sandbox writes drbot's configuration; drbot binds an ephemeral port and logs it.
    const botConfig = join(work, 'drbot.toml');
    const sandbox = start('sandbox', join(config.binDir, 'drbot-sandbox'),
      ['--write-bot-config', botConfig, '--bot-listen', '127.0.0.1:0', '--local-anonymous'], { cwd: work, work, env: {} });
    await lineMatching(sandbox, /^ready$/, '"ready" line');
    const drbot = start('drbot', join(config.binDir, 'drbot'), ['--log-format', 'json', 'serve', '--config', botConfig],
      { cwd: work, work, env: { DRBOT__STORE__DATA_DIR: join(work, 'data') } });
    const [, botAddr] = await lineMatching(drbot, /"message":"drbot listening".*"addr":"([^"]+)"/, 'listening address');
    const botUrl = `http://${botAddr}`;
    await waitHttp(`${botUrl}/readyz`, 'drbot /readyz');

    // The Playground has no host option; loopback.cjs keeps it on 127.0.0.1. Its cwd
    // is the work directory: it writes devTools/ there and reads its context file.
    copyFileSync(join(here, 'playground.yml'), join(work, '.m365agentsplayground.yml'));
    const playground = start('playground', process.execPath,
      [playgroundCli, '-e', `${botUrl}/api/messages`, '-c', 'msteams', '--disable-telemetry', '-p', '0',
        '--conversation-id', config.conversationId],
      { cwd: work, work, env: { NODE_OPTIONS: `--require ${join(here, 'loopback.cjs')}` } });
    const [, pgPort] = await lineMatching(playground, /Listening on (\d+)/, '"Listening on" line');
    const pgUrl = `http://127.0.0.1:${pgPort}`;
    const playgroundLog = join(work, 'devTools', 'm365agentsplayground.log');
    await waitHttp(`${pgUrl}/`, 'the Playground', () =>
      existsSync(playgroundLog) && /Failed to start/.test(readFileSync(playgroundLog, 'utf8')));

    const userData = join(work, 'chromium');
    mkdirSync(userData);
    browser = await chromium.launchPersistentContext(userData, {
      executablePath: config.chromium, headless: true, args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 900 }, timeout: config.timeoutMs,
    });
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.goto(`${pgUrl}/`, { timeout: config.timeoutMs });
    ui = new Ui(page);
    ui.state.storeFile = join(work, 'data', 'drbot.db');
    // The conversation starts when the Playground installs drbot: wait for its greeting.
    await ui.botMessage(0);

    mkdirSync(config.screenshots, { recursive: true });
    for (const step of steps) {
      current = step;
      const t = Date.now();
      const message = await step.run(ui);
      await ui.screenshot(message, join(config.screenshots, `${step.number}-${step.id}.png`));
      console.log(`ok   ${step.number} ${step.id} (${Date.now() - t} ms)`);
    }
    current = null;
    const skipped = STEPS.filter((s) => !steps.some((c) => c.id === s.id)).map((s) => s.id);
    console.log(`e2e: ${steps.length} steps passed in ${((Date.now() - t0) / 1000).toFixed(1)} s` +
      (skipped.length ? `; not run: ${skipped.join(', ')}` : ''));
  } catch (error) {
    const name = current ? current.id : 'setup';
    console.error(`FAIL ${current ? `${current.number} ${current.id}` : 'setup'}: ${error.message}`);
    if (ui) {
      const shot = join(here, `failure-${name}.png`);
      await ui.page.screenshot({ path: shot }).then(() => console.error(`screenshot: ${shot}`), () => {});
      await ui.printBotMessages();
    }
    for (const proc of started) {
      console.error(`--- last lines of ${proc.name} (${proc.log}) ---`);
      console.error(proc.lines.slice(-15).join('\n'));
    }
    // The Playground reports its own start-up errors only in this file.
    const playgroundLog = join(work, 'devTools', 'm365agentsplayground.log');
    if (existsSync(playgroundLog)) {
      console.error(`--- last lines of ${playgroundLog} ---`);
      console.error(readFileSync(playgroundLog, 'utf8').split('\n').slice(-8).join('\n'));
    }
    config.keep = true;
    error.reported = true;
    throw error;
  } finally {
    await stopAll();
    if (config.keep) console.error(`work directory kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

/** Polls `url` until it answers 2xx; gives up at once when `failed()` says so. */
async function waitHttp(url, what, failed = () => false) {
  const deadline = Date.now() + config.timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (failed()) throw new Error(`${what} failed to start`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error.message;
    }
    await delay(100);
  }
  throw new Error(`${what} did not answer at ${url} within ${config.timeoutMs} ms (${last})`);
}

// The whole run has a deadline; a signal or the deadline stops what was started.
const watchdog = setTimeout(async () => {
  console.error(`FAIL: the run exceeded DRBOT_E2E_DEADLINE_MS=${config.deadlineMs}`);
  await stopAll();
  process.exit(1);
}, config.deadlineMs);
watchdog.unref();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    await stopAll();
    process.exit(130);
  });
}

main().then(
  () => process.exit(0),
  (error) => {
    if (!error.reported) console.error(`FAIL: ${error.message}`);
    process.exit(1);
  },
);
