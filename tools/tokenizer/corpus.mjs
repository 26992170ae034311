// Real text from this Debian machine for the tokenizer goldens and benchmark: translated gettext catalogues
// (/usr/share/locale/*/LC_MESSAGES/*.mo, read with msgunfmt from gettext), English man pages and package
// documentation, and source code (C headers, Python, shell). Deterministic for a given set of installed files.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

// Small seeded PRNG (mulberry32) so that the goldens are reproducible.
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (arr) => arr[next.int(arr.length)];
  next.shuffle = (arr) => {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = next.int(i + 1);
      [arr[i], arr[j]] = [arr[j], arr[i]];
    }
    return arr;
  };
  return next;
}

function unescapePo(s) {
  return s.replace(/\\(n|t|r|"|\\|[0-7]{1,3}|a|b|f|v)/g, (_, e) => ({ n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\',
    a: '\x07', b: '\b', f: '\f', v: '\v' })[e] ?? String.fromCharCode(parseInt(e, 8)));
}

// Parses msgunfmt output into [msgid, msgstr] pairs (plural forms flattened).
function parsePo(text) {
  const pairs = [];
  let cur = null, field = null, id = '';
  const flush = () => { if (cur !== null && field) pairs.push([id, cur]); };
  for (const line of text.split('\n')) {
    let m;
    if ((m = line.match(/^msgid "(.*)"$/))) { flush(); cur = null; field = 'id'; id = unescapePo(m[1]); }
    else if ((m = line.match(/^msgid_plural "(.*)"$/))) { field = 'idp'; }
    else if ((m = line.match(/^msgstr(?:\[\d+\])? "(.*)"$/))) { if (field === 'str') flush(); field = 'str'; cur = unescapePo(m[1]); }
    else if ((m = line.match(/^"(.*)"$/))) {
      if (field === 'id') id += unescapePo(m[1]);
      else if (field === 'str') cur += unescapePo(m[1]);
    }
  }
  flush();
  return pairs.filter(([i, s]) => i !== '' && s !== '');
}

// msgstr texts of one locale directory (all its catalogues), msgids too when wantIds (English source strings).
export function gettextStrings(lang, wantIds = false) {
  const dir = `/usr/share/locale/${lang}/LC_MESSAGES`;
  if (!existsSync(dir)) return [];
  const out = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.mo')) continue;
    let po;
    try {
      po = execFileSync('msgunfmt', [`${dir}/${f}`], { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] });
    } catch { continue; }
    for (const [id, str] of parsePo(po)) out.push(wantIds ? id : str);
  }
  return [...new Set(out)];
}

export const LANGS = ['de', 'fr', 'es', 'ru', 'el', 'ar', 'he', 'hi', 'th', 'zh_CN', 'zh_TW', 'ja', 'ko', 'vi', 'uk',
  'pl', 'tr', 'fa', 'bn', 'ta', 'ka', 'hy', 'am', 'pt_BR', 'it', 'cs', 'sv'];

function walk(dir, pred, limit, out = []) {
  let entries;
  try { entries = readdirSync(dir).sort(); } catch { return out; }
  for (const e of entries) {
    if (out.length >= limit) break;
    const p = `${dir}/${e}`;
    let st;
    try { st = statSync(p); } catch { continue; }
    if (st.isDirectory()) walk(p, pred, limit, out);
    else if (st.isFile() && pred(p, st)) out.push(p);
  }
  return out;
}

function readText(p) {
  try {
    const buf = readFileSync(p);
    const data = p.endsWith('.gz') ? gunzipSync(buf) : buf;
    const s = new TextDecoder('utf-8', { fatal: true }).decode(data);
    return s;
  } catch { return null; }
}

// English prose: man pages (roff source) and /usr/share/doc files.
export function englishDocs(limit = 400) {
  const files = [
    ...walk('/usr/share/man/man1', (p) => p.endsWith('.gz'), limit),
    ...walk('/usr/share/doc', (p, st) => st.size < 200000 && /(copyright|README|NEWS|changelog\.gz|\.txt)$/.test(p), limit),
  ];
  return files.map(readText).filter((s) => s && s.length > 0);
}

// Source code with tabs and runs of spaces.
export function sourceCode(limit = 400) {
  const files = [
    ...walk('/usr/include', (p, st) => p.endsWith('.h') && st.size < 300000, limit),
    ...walk('/usr/lib/python3', (p, st) => p.endsWith('.py') && st.size < 300000, limit),
    ...walk('/usr/share/perl5', (p, st) => p.endsWith('.pm') && st.size < 300000, limit / 2),
    ...walk('/etc', (p, st) => st.size < 50000 && /(\.sh|\.conf|bashrc|profile)$/.test(p), limit / 4),
  ];
  return files.map(readText).filter((s) => s && s.length > 0);
}

// A chunk of text of about n characters starting at a random place (on code point boundaries).
export function chunk(r, s, n) {
  const cps = Array.from(s);
  if (cps.length <= n) return s;
  const start = r.int(cps.length - n);
  return cps.slice(start, start + n).join('');
}
