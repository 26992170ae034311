// The chat page of `qwen3 serve` in a real browser (issue 21): Debian's chromium driven by playwright-core against a
// server with the tiny synthetic model. Answers are forced token by token with the logit-bias trick of tests/server
// (forceSequence), typed into the page's own "Extra request fields" setting, so every check is on known text.
// Every request the page makes is intercepted: any host but the server fails the test. Console errors fail it too.
// Screenshots of each state go to $QWEN3_ARTEFACTS (the build's web-artefacts/); axe-core checks each state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, metric, until, forceSequence, TOK } from '../server/harness.js';

const require = createRequire(import.meta.url);
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const ARTEFACTS = process.env.QWEN3_ARTEFACTS ?? path.resolve('web-artefacts');
const CHROMIUM = process.env.QWEN3_CHROMIUM ?? '/usr/bin/chromium';
mkdirSync(ARTEFACTS, { recursive: true });

let server, keyServer, browser;
const foreign = [];  // requests to any other host
const consoleErrors = [];

before(async () => {
  [server, keyServer, browser] = await Promise.all([
    startServer(['--parallel', '2']),
    startServer(['--api-key', 'sekret-key']),
    chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] }),
  ]);
});
after(async () => {
  await browser?.close();
  await Promise.all([server?.stop(), keyServer?.stop()]);
});

// A fresh browser profile on `srv` whose every request is checked and whose console errors are collected
// (`allowConsole` matches the errors a test expects, e.g. the 401 a key prompt starts from).
async function openPage(srv, { viewport = { width: 1200, height: 800 }, colorScheme = 'light', allowConsole = null } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.base });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${srv.base}/`) || url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' && !(allowConsole && allowConsole.test(m.text()))) consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto(`${srv.base}/`);
  return { context, page };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(ARTEFACTS, `${name}.png`) });
}

// axe-core in the page (evaluated over the DevTools protocol: the page's CSP allows no injected script tag).
async function checkA11y(page, what) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), [], `axe (${what})`);
}

async function setSettings(page, values) {
  await page.getByRole('button', { name: 'Settings' }).click();
  const dialog = page.getByRole('dialog', { name: 'Settings' });
  for (const [label, value] of Object.entries(values)) await dialog.getByLabel(label, { exact: false }).fill(value);
  await dialog.getByRole('button', { name: 'Done' }).click();
  await assert.doesNotReject(dialog.waitFor({ state: 'hidden' }));
}

const forced = (ids, extra = {}) => JSON.stringify({ ...forceSequence(ids), ...extra });
const lastAnswer = (page) => page.locator('.msg.assistant').last();
const sendButton = (page) => page.getByRole('button', { name: 'Send' });
const thinkingSwitch = (page) => page.getByRole('switch', { name: 'Thinking' });

// Waits for the answer in progress to end (the Stop button gives way to Send).
async function answered(page) {
  await page.getByRole('button', { name: 'Stop' }).waitFor({ state: 'detached' });
  await sendButton(page).waitFor();
}

let main;  // the page most tests share: conversations build up in it

test('Enter sends, the answer streams in with its token count; Shift+Enter is a new line', async () => {
  main = await openPage(server);
  const { page } = main;
  await checkA11y(page, 'empty page');
  await shot(page, '01-empty');
  await thinkingSwitch(page).uncheck();
  await setSettings(page, {
    'Temperature': '0.5', 'Top-p': '0.9', 'Top-k': '40', 'Max tokens': '64', 'Seed': '7',
    // The forced tokens without forceSequence's temperature 0: the sampling fields above are the page's own.
    'Extra request fields': JSON.stringify({ logit_bias: forceSequence([TOK.hi, TOK.hmm, TOK.imEnd]).logit_bias, presence_penalty: 1000 }),
  });
  const box = page.getByLabel('Message', { exact: true });
  await box.fill('a');
  await box.press('Shift+Enter');
  await box.pressSequentially('b');
  assert.equal(await box.inputValue(), 'a\nb');
  assert.equal(await page.locator('.msg').count(), 0);
  await box.fill('Hello there');
  const [request, response] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')),
    page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions')),
    box.press('Enter'),
  ]);
  const body = request.postDataJSON();
  assert.equal(body.stream, true);
  assert.deepEqual(body.messages, [{ role: 'user', content: 'Hello there' }]);
  assert.deepEqual(body.chat_template_kwargs, { enable_thinking: false });
  assert.equal(body.temperature, 0.5);
  assert.equal(body.top_p, 0.9);
  assert.equal(body.top_k, 40);
  assert.equal(body.max_tokens, 64);
  assert.equal(body.seed, 7);
  assert.equal(response.headers()['content-type'], 'text/event-stream');
  await answered(page);
  assert.equal((await lastAnswer(page).locator('.md').innerText()).trim(), 'Hi hmm');
  const events = (await response.text()).split('data: ');
  assert.ok(events.length > 3, 'several events');
  // The last chunk before [DONE] carries usage and the server's timings, which the stats line shows.
  const last = JSON.parse(events.at(-2));
  assert.equal(last.usage.completion_tokens, 2);
  assert.equal(last.timings.predicted_n, 2);
  assert.ok(last.timings.predicted_per_second > 0 && last.timings.prompt_n === last.usage.prompt_tokens, JSON.stringify(last.timings));
  assert.match(await lastAnswer(page).locator('.stats').innerText(), /^\d+ tokens · [\d.]+ tok\/s · [\d.]+ s · prompt \d+ tokens$/);
  assert.equal(await page.locator('.msg.user .bubble').innerText(), 'Hello there');
  assert.equal(await box.inputValue(), '');
  assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Hello there');
  await shot(page, '02-answer');
});

test('thinking: a "Thinking" block, folded once the answer is done', async () => {
  const { page } = main;
  await page.getByRole('button', { name: 'New chat' }).click();
  await thinkingSwitch(page).check();
  await setSettings(page, { 'Extra request fields': forced([TOK.thinkOpen, TOK.hmm, TOK.thinkClose, TOK.hi, TOK.imEnd]) });
  await page.getByLabel('Message', { exact: true }).fill('Think first');
  await page.getByLabel('Message', { exact: true }).press('Enter');
  await answered(page);
  const details = lastAnswer(page).locator('details.thinking');
  assert.equal(await details.getAttribute('open'), null, 'folded after the answer');
  assert.equal(await details.locator('summary').innerText(), 'Thinking');
  assert.equal((await lastAnswer(page).locator('.md').innerText()).trim(), 'Hi');
  await details.locator('summary').click();
  assert.notEqual(await details.getAttribute('open'), null);
  assert.equal((await details.locator('.thinking-text').innerText()).trim(), 'hmm');
  await shot(page, '03-thinking-unfolded');
  await checkA11y(page, 'answer with thinking');
});

test('stop mid-answer: the thinking streams open, Stop ends it, the server cancels the sequence', async () => {
  const { page } = main;
  const cancelled0 = await metric(server.base, 'qwen3_sequences_cancelled_total');
  await page.getByRole('button', { name: 'New chat' }).click();
  // <think> first, then every token at most once (presence penalty) and no end of thinking or of the answer:
  // a long stream of reasoning.
  const long = { logit_bias: { [TOK.thinkOpen]: 100, [TOK.thinkClose]: -100, [TOK.imEnd]: -100, [TOK.endOfText]: -100 }, presence_penalty: 1000, temperature: 0, max_tokens: 3500 };
  await setSettings(page, { 'Extra request fields': JSON.stringify(long) });
  await page.getByLabel('Message', { exact: true }).fill('Think for a long time');
  await page.getByLabel('Message', { exact: true }).press('Enter');
  const details = lastAnswer(page).locator('details.thinking');
  await page.waitForFunction(() => (document.querySelector('.msg.assistant:last-child .thinking-text')?.textContent.length ?? 0) > 40);
  assert.notEqual(await details.getAttribute('open'), null, 'open while it streams');
  assert.equal(await details.locator('summary').innerText(), 'Thinking…');
  await shot(page, '04-thinking-streaming');
  await page.getByRole('button', { name: 'Stop' }).click();
  await answered(page);
  assert.equal(await details.getAttribute('open'), null, 'folded once stopped');
  assert.match(await lastAnswer(page).locator('.stats').innerText(), /^~\d+ tokens .* stopped$/);
  await until(async () => (await metric(server.base, 'qwen3_sequences_cancelled_total')) === cancelled0 + 1, 'the sequence to be cancelled');
  await until(async () => (await metric(server.base, 'qwen3_active_sequences')) === 0, 'the slot to be freed');
  await shot(page, '05-stopped');
});

test('regenerate and edit the last message', async () => {
  const { page } = main;
  await page.getByRole('button', { name: 'New chat' }).click();
  await thinkingSwitch(page).uncheck();
  await setSettings(page, { 'Extra request fields': forced([TOK.hi, TOK.imEnd]) });
  await page.getByLabel('Message', { exact: true }).fill('Say hi');
  await page.getByLabel('Message', { exact: true }).press('Enter');
  await answered(page);
  assert.equal((await lastAnswer(page).innerText()).split('\n')[0].trim(), 'Hi');
  // Regenerate with other forced tokens: the answer is replaced, the question is sent again as it was.
  await setSettings(page, { 'Extra request fields': forced([TOK.hmm, TOK.hi, TOK.imEnd]) });
  const [again] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')),
    page.getByRole('button', { name: 'Regenerate' }).click(),
  ]);
  assert.deepEqual(again.postDataJSON().messages, [{ role: 'user', content: 'Say hi' }]);
  await answered(page);
  assert.equal(await page.locator('.msg.assistant').count(), 1);
  assert.equal((await lastAnswer(page).locator('.md').innerText()).trim(), 'hmmHi');
  // Edit the question: the old answer goes, the new question is asked.
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await page.getByLabel('Edit your message').fill('Say hmm');
  const [edited] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')),
    page.getByRole('button', { name: 'Save and send' }).click(),
  ]);
  assert.deepEqual(edited.postDataJSON().messages, [{ role: 'user', content: 'Say hmm' }]);
  await answered(page);
  assert.equal(await page.locator('.msg').count(), 2);
  assert.equal(await page.locator('.msg.user .bubble').innerText(), 'Say hmm');
});

test('system prompt, tool calls rendered, API errors inline', async () => {
  const { page } = main;
  await page.getByRole('button', { name: 'New chat' }).click();
  const tools = [{ type: 'function', function: { name: 'f', description: 'A test function', parameters: { type: 'object', properties: {} } } }];
  await setSettings(page, {
    'System prompt': 'You are terse.',
    'Extra request fields': forced([TOK.toolCallOpen, ...TOK.toolJson, TOK.toolCallClose, TOK.endOfText], { tools }),
  });
  const [req] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')),
    page.getByLabel('Message', { exact: true }).fill('Call f').then(() => page.getByLabel('Message', { exact: true }).press('Enter')),
  ]);
  assert.deepEqual(req.postDataJSON().messages[0], { role: 'system', content: 'You are terse.' });
  await answered(page);
  const call = lastAnswer(page).locator('.tool-call');
  assert.equal(await call.locator('.tool-head code').innerText(), 'f');
  assert.equal(await call.locator('pre').innerText(), '{}');
  assert.match(await lastAnswer(page).locator('.stats').innerText(), /tool_calls/);
  await shot(page, '06-tool-call');
  // A bad value reaches the server, whose 400 is shown in the conversation.
  await setSettings(page, { 'System prompt': '', 'Extra request fields': '{"top_p": 7}' });
  await page.getByLabel('Message', { exact: true }).fill('again');
  await page.getByLabel('Message', { exact: true }).press('Enter');
  await answered(page);
  const alert = lastAnswer(page).getByRole('alert');
  assert.match(await alert.innerText(), /top_p/);
  // Chromium logs the failed request itself: the one console error expected here.
  assert.deepEqual(consoleErrors.splice(0), ['Failed to load resource: the server responded with a status of 400 (Bad Request)']);
  // A setting that is no number never leaves the page.
  await setSettings(page, { 'Extra request fields': '', 'Temperature': 'warm' });
  await page.getByLabel('Message', { exact: true }).fill('once more');
  await page.getByLabel('Message', { exact: true }).press('Enter');
  assert.match(await lastAnswer(page).getByRole('alert').innerText(), /temperature: "warm" is not a number/);
  await shot(page, '07-errors');
  await setSettings(page, { 'Temperature': '' });
});

test('Markdown: code highlighted with a copy button, nothing unsafe rendered, no image fetched', async () => {
  const { page } = main;
  const md = [
    '## Steps', '', '1. one', '2. **two** and `inline`', '', '| a | b |', '|---|---|', '| 1 | 2 |', '',
    '```python', 'def f(x):', '    return x + 1  # one more', '```', '',
    '<script>window.pwned = 1</script><img src="http://tracker.example/p.png" onerror="window.pwned = 2">',
    '![pixel](http://tracker.example/q.png) [a link](https://example.org)',
  ].join('\n');
  const conv = { id: 'md-test', title: 'Markdown', created: Date.now(), messages: [
    { role: 'user', content: 'Show me markdown' },
    { role: 'assistant', content: md, reasoning: 'The user wants formatting.', stats: { completionTokens: 42, seconds: 0.5, tokensPerSecond: 90, promptTokens: 12 }, finish: 'stop' }] };
  await page.evaluate((c) => {
    const all = JSON.parse(localStorage.getItem('qwen3.conversations'));
    localStorage.setItem('qwen3.conversations', JSON.stringify([c, ...all]));
    localStorage.setItem('qwen3.current', JSON.stringify(c.id));
  }, conv);
  await page.reload();
  const answer = lastAnswer(page);
  assert.equal(await answer.locator('h2').innerText(), 'Steps');
  assert.equal(await answer.locator('table td').first().innerText(), '1');
  assert.equal(await answer.locator('.code-head span').innerText(), 'python');
  assert.ok(await answer.locator('.code .hljs-keyword').count() >= 1, 'highlighted');
  // The model's HTML is text, its image a link: nothing runs, nothing is fetched from the tracker.
  assert.equal(await answer.locator('img, script').count(), 0);
  assert.match(await answer.locator('.md').innerText(), /<script>window\.pwned = 1<\/script><img src=/);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  assert.equal(await answer.locator('a', { hasText: 'pixel' }).getAttribute('href'), 'http://tracker.example/q.png');
  assert.equal(await answer.locator('a', { hasText: 'a link' }).getAttribute('rel'), 'noopener noreferrer');
  await answer.getByRole('button', { name: 'Copy' }).click();
  await answer.getByRole('button', { name: 'Copied' }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), 'def f(x):\n    return x + 1  # one more');
  await shot(page, '08-markdown');
  await checkA11y(page, 'markdown answer');
  // The README's picture (docs/webui.png is a copy): a written-out answer, as a real model gives one.
  const readme = { id: 'readme', title: 'Reverse a list in Python', created: Date.now(), messages: [
    { role: 'user', content: 'How do I reverse a list in Python?' },
    { role: 'assistant', reasoning: 'Two common ways: slicing, which copies, and list.reverse(), which works in place.',
      content: 'Two ways, depending on whether you want a copy:\n\n```python\nnums = [1, 2, 3]\nbackwards = nums[::-1]  # a new list\nnums.reverse()          # in place, returns None\n```\n\n`reversed(nums)` gives an **iterator** instead, which is enough for a `for` loop.',
      stats: { completionTokens: 71, seconds: 1.9, tokensPerSecond: 41.3, promptTokens: 16 }, finish: 'stop' }] };
  await page.evaluate((c) => {
    const all = JSON.parse(localStorage.getItem('qwen3.conversations'));
    localStorage.setItem('qwen3.conversations', JSON.stringify([...all, c]));
    localStorage.setItem('qwen3.current', JSON.stringify(c.id));
  }, readme);
  await page.reload();
  await page.locator('.msg.assistant .code').waitFor();
  await shot(page, 'readme');
  await page.getByRole('button', { name: 'Delete Reverse a list in Python' }).click();
});

test('conversations: switch, rename, export, delete; they persist across a reload', async () => {
  const { page } = main;
  const titles = async () => page.locator('nav li .conv').allInnerTexts();
  const before_ = await titles();
  assert.ok(before_.length >= 6, before_.join('|'));
  assert.ok(before_.includes('Hello there'));
  // Switch to the first conversation.
  await page.locator('nav .conv', { hasText: 'Hello there' }).click();
  assert.equal(await page.locator('.msg.user .bubble').first().innerText(), 'Hello there');
  assert.equal((await lastAnswer(page).locator('.md').innerText()).trim(), 'Hi hmm');
  // Rename it.
  await page.getByRole('button', { name: 'Rename Hello there' }).click();
  await page.getByLabel('Conversation title').fill('Greetings');
  await page.getByLabel('Conversation title').press('Enter');
  assert.ok((await titles()).includes('Greetings'));
  // Export it as JSON.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export Greetings' }).click()]);
  assert.equal(download.suggestedFilename(), 'Greetings.json');
  const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.equal(exported.title, 'Greetings');
  assert.deepEqual(exported.messages.map((m) => [m.role, m.content]), [['user', 'Hello there'], ['assistant', 'Hi hmm']]);
  // Delete another one.
  await page.getByRole('button', { name: 'Delete Say hi' }).click();
  const after_ = await titles();
  assert.equal(after_.length, before_.length - 1);
  assert.ok(!after_.includes('Say hi'));
  // Reload: the same list, the same conversation open, its thinking block folded.
  await page.reload();
  assert.deepEqual(await titles(), after_);
  assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Greetings');
  assert.equal((await lastAnswer(page).locator('.md').innerText()).trim(), 'Hi hmm');
  await page.locator('nav .conv', { hasText: 'Think first' }).click();
  assert.equal(await lastAnswer(page).locator('details.thinking').getAttribute('open'), null);
  assert.match(await lastAnswer(page).locator('.stats').innerText(), /tokens/);
  await shot(page, '09-after-reload');
  // The settings persisted too.
  await page.getByRole('button', { name: 'Settings' }).click();
  assert.equal(await page.getByLabel('Top-k').inputValue(), '40');
  await checkA11y(page, 'settings dialog');
  await shot(page, '10-settings');
  await page.keyboard.press('Escape');
  await main.context.close();
});

test('API key: the page asks for it, a wrong one is refused, the right one is kept', async () => {
  const { context, page } = await openPage(keyServer, { allowConsole: /status of 401/ });
  const dialog = page.getByRole('dialog', { name: 'API key' });
  await dialog.waitFor();
  await checkA11y(page, 'key prompt');
  await shot(page, '11-api-key');
  await dialog.getByLabel('API key').fill('wrong');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.getByText('That API key was refused.').waitFor();
  await dialog.getByLabel('API key').fill('sekret-key');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await dialog.waitFor({ state: 'hidden' });
  await thinkingSwitch(page).uncheck();
  await setSettings(page, { 'Extra request fields': forced([TOK.hi, TOK.imEnd]) });
  const [req] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/v1/chat/completions')),
    page.getByLabel('Message', { exact: true }).fill('hi').then(() => page.getByLabel('Message', { exact: true }).press('Enter')),
  ]);
  assert.equal(req.headers().authorization, 'Bearer sekret-key');
  await answered(page);
  assert.equal((await lastAnswer(page).locator('.md').innerText()).trim(), 'Hi');
  await page.reload();
  await page.locator('.msg.assistant').waitFor();
  assert.equal(await dialog.isVisible(), false, 'no prompt once the key is kept');
  await context.close();
});

test('phone-sized screen (dark scheme): one column, the conversation list behind a button', async () => {
  const { context, page } = await openPage(server, { viewport: { width: 390, height: 844 }, colorScheme: 'dark' });
  const nav = page.getByRole('navigation', { name: 'Conversations' });
  assert.equal(await nav.isVisible(), false);
  await page.getByRole('button', { name: 'Conversations' }).click();
  await page.getByRole('button', { name: 'New chat' }).waitFor();
  await page.getByRole('button', { name: 'New chat' }).click();
  await page.getByLabel('Message', { exact: true }).fill('hi from a phone');
  assert.ok((await page.getByLabel('Message', { exact: true }).boundingBox()).width > 200);
  await checkA11y(page, 'phone');
  await shot(page, '12-phone');
  await context.close();
});

test('no request to another host, no console error', () => {
  assert.deepEqual(foreign, []);
  assert.deepEqual(consoleErrors, []);
});
