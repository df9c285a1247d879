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
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  // Two people in one group chat: Alex here, Megan in a Playground of her own.
  { id: 'failover-request', number: '15', ready: true, run: failoverRequest },
  { id: 'second-approver', number: '16', ready: true, needs: ['failover-request'], run: secondApprover },
  { id: 'failover', number: '17', ready: true, needs: ['second-approver'], run: failover },
  { id: 'failback', number: '18', ready: true, needs: ['failover'], run: failback },
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
  failoverRunbook: [/Planned failover of pair default/, /2 people with the failover role must approve/],
  failbackRunbook: [/Failback of pair default/, /2 people with the failover role must approve/],
  approvedBy: (name, mode) => [new RegExp(`${mode} of pair default`), new RegExp(`Approved by ${name}\\. Awaiting 1 more person`)],
  youApproved: /You approved it/,
  failoverDone: /Completed: the secondary is active/,
  failbackDone: /Completed: the primary is active/,
  failbackNext: /The secondary side is passive again/,
  runbookFailed: /Stopped at|Could not run|Cancelled before/,
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
const APPROVE_FAILOVER = 'Approve failover';
const APPROVE_FAILBACK = 'Approve failback';
// The two people of the failover steps, as the Playground's context names them.
const ALEX = { id: 'user-id-0', name: 'Alex Wilber' };
const MEGAN = { id: 'user-id-1', name: 'Megan Bowen' };

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

/**
 * A planned failover needs two people with the failover role. Alex asks in
 * the group chat (drbot must be @mentioned there, as in Teams) and approves:
 * the card says who approved and that one more person must, and shows him no
 * Approve any more. Asking again shows him the same runbook, not a second one,
 * still without Approve: one person never approves twice.
 */
async function failoverRequest(ui) {
  await ui.openGroupChat();
  const command = 'failover --planned --override';
  const runbook = await ui.ask(command, { mention: true, expect: EXPECT.failoverRunbook });
  await approveAndAwaitSecond(ui, runbook, APPROVE_FAILOVER, ALEX, 'Planned failover');
  const again = await ui.ask(command, { mention: true, expect: [...EXPECT.approvedBy(ALEX.name, 'Planned failover'), EXPECT.youApproved] });
  if ((await ui.button(again, APPROVE_FAILOVER).count()) > 0) {
    throw new Error(`asking again offers Alex, who approved, another Approve:\n${await again.innerText()}`);
  }
  return runbook;
}

/**
 * Megan, in her own Playground (the same group chat, another person: her own
 * Teams user id and object id), asks for the failover: drbot shows her the
 * runbook Alex asked for and approved, with Approve failover for her.
 */
async function secondApprover(ui) {
  const megan = await ui.person(MEGAN);
  await megan.openGroupChat();
  const pending = await megan.ask('failover --planned --override', {
    mention: true, expect: EXPECT.approvedBy(ALEX.name, 'Planned failover'),
  });
  await megan.expectButton(pending, APPROVE_FAILOVER);
  ui.state.pending = pending;
  return pending;
}

/** Megan's approval is the second: the failover runs on the sandbox, in her card, to its one result. */
async function failover(ui) {
  const megan = await ui.person(MEGAN);
  const card = ui.state.pending;
  await megan.clickButton(card, APPROVE_FAILOVER);
  await megan.waitForRunbook(card, EXPECT.failoverDone, APPROVE_FAILOVER);
  return card;
}

/**
 * The failback, the other way round: Megan asks and approves, Alex asks in
 * his Playground, is shown her runbook and approves it; it runs in his card
 * until the primary is active again.
 */
async function failback(ui) {
  await primaryReadsSecondaryStorage(ui.state.botConfig);
  const megan = await ui.person(MEGAN);
  const command = 'failback --override';
  const hers = await megan.ask(command, { mention: true, expect: EXPECT.failbackRunbook });
  await approveAndAwaitSecond(megan, hers, APPROVE_FAILBACK, MEGAN, 'Failback');
  const pending = await ui.ask(command, { mention: true, expect: EXPECT.approvedBy(MEGAN.name, 'Failback') });
  await ui.clickButton(pending, APPROVE_FAILBACK);
  await ui.waitForRunbook(pending, EXPECT.failbackDone, APPROVE_FAILBACK);
  const text = await pending.innerText();
  if (!EXPECT.failbackNext.test(text) || /Fail back with/.test(text)) {
    throw new Error(`the failback's result should say the secondary is passive again, not suggest a failback:\n${text}`);
  }
  return pending;
}

/**
 * What a failback card asks of an operator before it can copy back by path
 * (the seeded pair is bootstrapped one way only: the secondary reads the
 * primary's prefixes, not the reverse): read-only external locations on the
 * primary's metastore over the secondary's prefixes, made through Unity
 * Catalog's REST API as the bot's own identity (client credentials from the
 * configuration the sandbox wrote; drbot deploy's bootstrap makes it a
 * metastore admin, and the sandbox seeds it so).
 */
async function primaryReadsSecondaryStorage(botConfig) {
  const toml = readFileSync(botConfig, 'utf8');
  const setting = (key) => {
    const value = toml.match(new RegExp(`^${key} = (.*)$`, 'm'))?.[1];
    if (value === undefined) throw new Error(`${botConfig} has no ${key}`);
    return JSON.parse(value);
  };
  const form = new URLSearchParams({
    grant_type: 'client_credentials', client_id: setting('MicrosoftAppId'),
    client_secret: setting('MicrosoftAppPassword'), scope: '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d/.default',
  });
  const tokenUrl = `${setting('login_authority')}/${setting('MicrosoftAppTenantId')}/oauth2/v2.0/token`;
  const token = await call('POST', tokenUrl, form);
  const primary = `${setting('primary_host')}/api/2.1/unity-catalog`;
  const auth = { authorization: `Bearer ${token.access_token}` };
  const { storage_credentials: credentials = [] } = await call('GET', `${primary}/storage-credentials`, null, auth);
  if (credentials.length === 0) throw new Error('the primary has no storage credential');
  const prefixes = setting('location_mapping').filter(([from, to]) => from !== to).map(([, to]) => to);
  for (const [i, url] of prefixes.entries()) {
    await call('POST', `${primary}/external-locations`, JSON.stringify({
      name: `failback_read_${i}`, url, credential_name: credentials[0].name, read_only: true,
      comment: 'the primary reads the secondary for a failback (e2e)',
    }), { ...auth, 'content-type': 'application/json' });
  }
}

/** An HTTP call of the setup above: its JSON answer, or an error with the status and body. */
async function call(method, url, body, headers = {}) {
  const res = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(config.timeoutMs) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url}: HTTP ${res.status} ${text}`);
  return text ? JSON.parse(text) : {};
}

/** `who` clicks `button` on `runbook`: it now waits for one more person and offers `who` nothing more. */
async function approveAndAwaitSecond(ui, runbook, button, who, mode) {
  await ui.clickButton(runbook, button);
  await ui.waitFor(`${who.name}'s approval on the runbook`, async () => {
    const text = await runbook.innerText();
    ui.rejectWrong(text);
    return [...EXPECT.approvedBy(who.name, mode), EXPECT.youApproved].every((re) => re.test(text)) &&
      (await ui.button(runbook, button).count()) === 0;
  });
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
  /** `world` starts another person's Playground (`person`); `state` is shared by everyone's Ui. */
  constructor(page, world, state = {}) {
    this.page = page;
    this.world = world;
    this.state = state;
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

  /**
   * Types `text` into the compose box and waits for a new bot message
   * matching all of `expect`. `mention`: @drbot first, picked from the
   * Playground's mention menu, as a group chat or channel needs (there the
   * Playground, like Teams, sends the bot only messages that mention it).
   */
  async ask(text, { expect, allowSignIn = false, mention = false }) {
    const before = (await this.botTexts()).length;
    const box = this.page.locator('[data-lexical-editor="true"]');
    await box.click({ timeout: config.timeoutMs });
    if (mention) {
      await this.page.keyboard.type('@drbot');
      await this.page.locator('#typeahead-menu [role="menuitem"]').filter({ hasText: /^\s*drbot\s*$/ })
        .click({ timeout: config.timeoutMs });
      await this.page.keyboard.type(' ');
    }
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

  /** The page `message` is on (another person's, maybe), scrolled to it. */
  async screenshot(message, path) {
    if (message) await message.scrollIntoViewIfNeeded({ timeout: config.timeoutMs });
    await (message ? message.page() : this.page).screenshot({ path });
  }

  async printBotMessages() {
    const texts = await this.botTexts().catch((e) => [`(could not read the page: ${e.message})`]);
    console.error(`--- the bot messages on ${this.who ?? 'the page'} (${texts.length}) ---`);
    texts.forEach((t, i) => console.error(`[${i + 1}] ${t.replace(/\n+/g, ' | ')}`));
  }

  /**
   * Opens the Playground's group chat (every user of its context is a
   * member) from the chat list and waits until it shows: the personal chat's
   * messages are gone from the page (the list marks no selection) and
   * drbot's greeting, sent when the Playground adds it to the chat, is there.
   */
  async openGroupChat() {
    const personal = await this.messages.first().elementHandle({ timeout: config.timeoutMs });
    await this.page.locator('[role="treeitem"][aria-label="Group Chat"]').click({ timeout: config.timeoutMs });
    await this.waitFor("the group chat to open with drbot's greeting", async () => {
      if (await personal.evaluate((e) => e.isConnected)) return false;
      const first = (await this.botTexts())[0] ?? '';
      return EXPECT.welcome.every((re) => re.test(first));
    });
  }

  /** `who`'s Ui: their own Playground (started on first use), in the same chats. */
  async person(who) {
    return this.world.person(who);
  }

  /**
   * After the approval that completes a runbook: the card turns into the run,
   * in place, and ends in `done` (its approve button gone); a runbook that
   * stops, cannot run or is cancelled fails the step with its card.
   */
  async waitForRunbook(card, done, button) {
    await this.waitFor(
      'the runbook to complete in its card',
      async () => {
        const text = await card.innerText();
        this.rejectWrong(text);
        if (EXPECT.runbookFailed.test(text)) throw new Error(`the runbook did not complete:\n${text}`);
        return done.test(text) && (await this.button(card, button).count()) === 0;
      },
      config.resultTimeoutMs,
    );
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

    const userData = join(work, 'chromium');
    mkdirSync(userData);
    browser = await chromium.launchPersistentContext(userData, {
      executablePath: config.chromium, headless: true, args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 900 }, timeout: config.timeoutMs,
    });
    // Each person has a Playground of their own (it is one person's Teams),
    // in a tab of the same chromium; the first is Alex's.
    const state = { storeFile: join(work, 'data', 'drbot.db'), botConfig };
    const people = new Map();
    world.person = async (who) => {
      if (!people.has(who.id)) {
        const page = people.size === 0 ? (browser.pages()[0] ?? (await browser.newPage())) : await browser.newPage();
        people.set(who.id, openPlayground(who, page, { botUrl, work, playgroundCli, state }));
      }
      return people.get(who.id);
    };
    ui = await world.person(ALEX);

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
    for (const [i, other] of world.uis.entries()) {
      const shot = join(here, `failure-${name}${i === 0 ? '' : `-${other.who.split(' ')[0].toLowerCase()}`}.png`);
      await other.page.screenshot({ path: shot }).then(() => console.error(`screenshot: ${shot}`), () => {});
      await other.printBotMessages();
    }
    for (const proc of started) {
      console.error(`--- last lines of ${proc.name} (${proc.log}) ---`);
      console.error(proc.lines.slice(-15).join('\n'));
    }
    // The Playground reports its own start-up errors only in this file.
    for (const playgroundLog of world.playgroundLogs) {
      if (!existsSync(playgroundLog)) continue;
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

/** The people the steps act as, each with their own Playground and tab (set up in `main`). */
const world = { person: null, uis: [], playgroundLogs: [] };

/**
 * `who`'s Playground: its own directory (it writes devTools/ there and reads
 * its context file there), its context (`playgroundContext`), started on an
 * ephemeral loopback port (loopback.cjs: it has no host option) and pointed
 * at drbot, then opened in `page`. Resolves with `who`'s Ui once drbot's
 * greeting arrives (the Playground installs drbot on page load).
 */
async function openPlayground(who, page, { botUrl, work, playgroundCli, state }) {
  const dir = join(work, `playground-${who.id}`);
  mkdirSync(dir);
  writeFileSync(join(dir, '.m365agentsplayground.yml'), playgroundContext(readFileSync(join(here, 'playground.yml'), 'utf8'), who));
  const name = world.uis.length === 0 ? 'playground' : `playground-${who.id}`;
  const playground = start(name, process.execPath,
    [playgroundCli, '-e', `${botUrl}/api/messages`, '-c', 'msteams', '--disable-telemetry', '-p', '0'],
    { cwd: dir, work, env: { NODE_OPTIONS: `--require ${join(here, 'loopback.cjs')}` } });
  const playgroundLog = join(dir, 'devTools', 'm365agentsplayground.log');
  world.playgroundLogs.push(playgroundLog);
  const [, port] = await lineMatching(playground, /Listening on (\d+)/, '"Listening on" line');
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/`, `${who.name}'s Playground`, () =>
    existsSync(playgroundLog) && /Failed to start/.test(readFileSync(playgroundLog, 'utf8')));
  await page.goto(`${url}/`, { timeout: config.timeoutMs });
  const ui = new Ui(page, world, state);
  ui.who = who.name;
  world.uis.push(ui);
  await ui.botMessage(0);
  return ui;
}

/**
 * playground.yml as `who`'s context: they are its current user (the others
 * its users, members of the same group chat and team) and their personal
 * chat with drbot is their own. The group chat's and the team's ids are the
 * file's, the same in every person's Playground: one chat, several people.
 * The file is ours and regular (two-space YAML, one `key: value` a line), so
 * a text swap of two user blocks does; the Playground validates the result
 * against its schema and refuses to start (in its log) if it is wrong.
 */
function playgroundContext(yml, who) {
  const current = yml.match(/^currentUser:\n((?: {2}\S.*\n)+)/m);
  const users = yml.match(/^users:\n((?: {2}.*\n)+)/m);
  if (!current || !users) throw new Error('playground.yml: no currentUser or users block');
  const fields = (block, indent) => block.split('\n').filter(Boolean).map((l) => l.trim()).map((l, i) =>
    (i === 0 && indent === 'item' ? '  - ' : indent === 'item' ? '    ' : '  ') + l.replace(/^- /, ''));
  const items = users[1].split(/^(?= {2}- )/m).filter(Boolean);
  const me = `id: ${who.id}`;
  const mine = items.find((item) => item.replace(/^ {2}- /, '').startsWith(me));
  let out = yml;
  if (!current[1].trimStart().startsWith(me)) {
    if (!mine) throw new Error(`playground.yml has no user ${who.id}`);
    const others = items.map((item) => (item === mine ? fields(current[1], 'item').join('\n') + '\n' : item));
    out = out.replace(current[0], `currentUser:\n${fields(mine, 'current').join('\n')}\n`)
      .replace(users[0], `users:\n${others.join('')}`);
  }
  return out.replace(/^(personalChat:\n {2}id: ).*$/m, `$1drbot-e2e-personal-${who.id}`);
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
