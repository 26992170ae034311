// Builds the chat page into one self-contained file, dist/index.html: the bundled, minified script and styles
// inline (the script as a module, so it runs after the static shell in the body has been parsed and can be painted
// first), and a Content-Security-Policy that lets the page talk to its own server only (connect-src 'self',
// no other script than this one, by hash). CMake embeds that file in the qwen3 binary (cmake/embed.cmake);
// it is committed, so building qwen3 needs no npm. Run `npm ci && npm run build` here after changing src/.
// `node build.mjs --check` (CTest web_bundle) builds in memory and fails when the committed file is not what the
// sources build to, or weighs more than the budget gzipped.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: ['src/app.tsx'],
  bundle: true,
  minify: true,
  write: false,
  format: 'iife',
  target: ['chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: 'out',
  legalComments: 'none',
  logLevel: 'warning',
});
const js = result.outputFiles.find((f) => f.path.endsWith('.js')).text.trim();
const css = result.outputFiles.find((f) => f.path.endsWith('.css')).text.trim();
// Inline script text must not close its element early.
if (/<\/script/i.test(js)) throw new Error('the bundle contains </script');
const hash = createHash('sha256').update(js).digest('base64');
const csp = [
  "default-src 'none'",
  `script-src 'sha256-${hash}'`,
  "style-src 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>qwen3 chat</title>
<link rel="icon" href="data:,">
<style>${css}</style>
</head>
<body>
<div id="app"><div class="app"><nav class="sidebar"></nav><main class="main"><header><h1>qwen3</h1></header><div class="messages"><p class="empty">Loading…</p></div></main></div></div>
<script type="module">${js}</script>
</body>
</html>
`;
const BUDGET = 300 * 1024;  // issue 21: at most 300 KB gzipped
const gz = gzipSync(html, { level: 9 }).length;
console.log(`dist/index.html: ${html.length} bytes, ${gz} gzipped (budget ${BUDGET})`);
if (gz > BUDGET) {
  console.error(`the page weighs ${gz} bytes gzipped, over the ${BUDGET}-byte budget`);
  process.exit(1);
}
if (process.argv.includes('--check')) {
  const committed = readFileSync(new URL('dist/index.html', import.meta.url), 'utf8');
  if (committed !== html) {
    console.error('web/dist/index.html is not what web/src builds to: run `npm ci && npm run build` in web/ and commit it');
    process.exit(1);
  }
} else {
  mkdirSync(`${here}dist`, { recursive: true });
  writeFileSync(`${here}dist/index.html`, html);
}
