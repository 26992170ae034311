// Generates the tokenizer goldens in tests/data/tokenizer/ with the official Hugging Face `tokenizers` binding (the
// Rust library that transformers and vLLM use), and cross-checks every case with @huggingface/transformers (the
// JavaScript port). The Rust library decides; disagreements go to transformers_js_report.json for docs/TOKENIZER.md.
//   cd tools/tokenizer && npm ci --ignore-scripts && node make_goldens.mjs
//   node make_goldens.mjs --bench-corpus FILE [MB]   # writes the mixed multilingual benchmark text instead
// Needs: the Qwen3 tokenizer (scripts/fetch-tokenizer), gettext's msgunfmt, the locale files Debian installs.
import { Tokenizer } from 'tokenizers';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LANGS, chunk, englishDocs, gettextStrings, rng, sourceCode } from './corpus.mjs';
import { edgeCases, emojiCases, specialTokenCases } from './edge_cases.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const tokDir = `${root}/.cache/qwen3-tokenizer`;
const outDir = `${root}/tests/data/tokenizer`;

if (process.argv[2] === '--bench-corpus') {
  writeBenchCorpus(process.argv[3], Number(process.argv[4] ?? 12));
  process.exit(0);
}

const r = rng(20260529);
const cases = [];  // {cat, text}
const add = (cat, text) => cases.push({ cat, text });

// 1. Translated UI strings per language: single strings, and long documents of many strings.
for (const lang of ['en', ...LANGS]) {
  const strs = lang === 'en' ? gettextStrings('de', true) : gettextStrings(lang);
  if (strs.length === 0) throw new Error(`no gettext strings for ${lang}`);
  r.shuffle(strs);
  for (const s of strs.slice(0, 120)) add(`po-${lang}`, s);
  for (let k = 0; k < 6; k++) {
    const parts = [];
    for (let i = 0, n = 10 + r.int(60); i < n; i++) parts.push(r.pick(strs));
    add(`po-${lang}-doc`, parts.join(r.pick(['\n', '\n\n', ' ', '\r\n'])));
  }
}
// 2. Decomposed accents (NFD) and mixed forms: exercises the NFC normaliser.
for (const lang of ['de', 'fr', 'es', 'vi', 'pl', 'cs', 'el', 'ko']) {
  const strs = r.shuffle(gettextStrings(lang)).slice(0, 25);
  for (const s of strs) add(`nfd-${lang}`, s.normalize('NFD'));
  for (const s of strs.slice(0, 5)) add(`nfkd-${lang}`, s.normalize('NFKD'));
}
// 3. English prose and source code.
const docs = englishDocs();
for (let k = 0; k < 150; k++) add('doc-en', chunk(r, r.pick(docs), r.pick([40, 200, 1000, 4000])));
const code = sourceCode();
for (let k = 0; k < 200; k++) add('code', chunk(r, r.pick(code), r.pick([60, 300, 1500, 5000])));
// 4. Hand-written edge cases, emoji, special tokens and their near misses.
for (const s of edgeCases()) add('edge', s);
for (const s of emojiCases()) add('emoji', s);
for (const s of specialTokenCases(JSON.parse(readFileSync(`${tokDir}/tokenizer.json`, 'utf8')).added_tokens)) add('special', s);
// 5. Code point soup: random strings over every kind of character (letters, marks, digits, spaces, controls...).
const pools = [
  [0x20, 0x7e], [0x09, 0x0d], [0xa0, 0x24f], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x590, 0x5ff],
  [0x600, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x1ab0, 0x1aff], [0x1dc0, 0x1dff],
  [0x2000, 0x206f], [0x2070, 0x209f], [0x2100, 0x214f], [0x2150, 0x218f], [0x2200, 0x22ff], [0x3000, 0x303f],
  [0x3040, 0x30ff], [0x4e00, 0x4fff], [0xac00, 0xad00], [0xfb00, 0xfb4f], [0xfe00, 0xfe0f], [0xff00, 0xffef],
  [0x10000, 0x1007f], [0x1d400, 0x1d7ff], [0x1f300, 0x1faff], [0x20000, 0x2000f], [0xe0000, 0xe007f],
  [0x0, 0x1f], [0x80, 0x9f], [0xfff0, 0xffff], [0x10ff00, 0x10ffff], [0x2ebf0, 0x2ee5d], [0x1e000, 0x1e0ff],
];
for (let k = 0; k < 500; k++) {
  let s = '';
  const len = 1 + r.int(k < 400 ? 30 : 400);
  const mine = [r.pick(pools), r.pick(pools), r.pick(pools), [0x20, 0x20], [0x27, 0x27], [0x0a, 0x0d]];
  for (let i = 0; i < len; i++) {
    const [a, b] = r.pick(mine);
    const cp = a + r.int(b - a + 1);
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    s += String.fromCodePoint(cp);
  }
  add('soup', s);
}
// 6. The NFC trap: code points HF's Unicode 9 tables do not know, next to marks that would reorder or compose.
const unknownNfc = [...readFileSync(`${root}/src/tokenizer/hf_nfc_unknown.h`, 'utf8').matchAll(/\{(0x[0-9A-F]+), (0x[0-9A-F]+)\}/g)]
  .flatMap(([, a, b]) => Array.from({ length: Number(b) - Number(a) + 1 }, (_, i) => Number(a) + i));
for (const cp of unknownNfc) {
  const c = String.fromCodePoint(cp);
  add('nfc-trap', `a${c}\u0301 e${c}\u0316 ${c.normalize('NFD')} x${c}`);
}
for (const s of ['e\u0301', 'e\u0316\u0301', 'e\u0301\u0316', '\u1100\u1161\u11a8', '\u0915\u093c', 'A\u030a\u212b',
  '\u0958', '\u2126', 'q\u0307\u0323', '\u00c5\u0327', 'ﬀ ﬁ ﬂ', '\u0344', '\u1e9b\u0323', '\u0f73\u0f71\u0f72']) add('nfc', s);

// Reference encodings (add_special_tokens = false) and decodes.
const tok = Tokenizer.fromFile(`${tokDir}/tokenizer.json`);
const enc = async (s) => (await tok.encode(s, null, { addSpecialTokens: false })).getIds();
const lines = [];
for (const c of cases) {
  const ids = await enc(c.text);
  const back = await tok.decode(ids, false);
  lines.push(JSON.stringify({ cat: c.cat, text: c.text, ids, roundtrip: back === c.text }));
}
mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}/encode.jsonl`, lines.join('\n') + '\n');

// Decode goldens: random id sequences, including byte tokens that split characters or can never be valid UTF-8,
// special tokens, and ids outside the vocabulary, with and without skip_special_tokens.
const vocabSize = tok.getVocabSize(true);
const byteTok = (b) => tok.tokenToId(byteChar(b));
const decodeCases = [];
const byteSeqs = [[0x80], [0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5], [0xff],
  [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xf0, 0x9f], [0xe2, 0x28, 0xa1], [0xc3], [0xf0, 0x9f, 0x98, 0x80], [0xe2, 0x82, 0xac]];
for (let k = 0; k < 1500; k++) {
  const ids = [];
  for (let i = 0, n = 1 + r.int(k < 1000 ? 12 : 60); i < n; i++) {
    const kind = r.int(10);
    if (kind < 5) ids.push(r.int(151643));
    else if (kind < 7) ids.push(...r.pick(byteSeqs).map(byteTok));
    else if (kind < 8) ids.push(151643 + r.int(26));
    else if (kind < 9) ids.push(byteTok(0x80 + r.int(128)));
    else ids.push(r.pick([vocabSize, vocabSize + 5, 151935, 200000]));
  }
  for (const skip of [false, true]) decodeCases.push({ ids, skip, text: await tok.decode(ids, skip) });
}
writeFileSync(`${outDir}/decode.jsonl`, decodeCases.map((c) => JSON.stringify(c)).join('\n') + '\n');

// A small synthetic tokenizer.json exercising what Qwen3's file does not: added tokens with lstrip, rstrip,
// single_word and normalized=true, overlapping added tokens, and added tokens whose text is not byte-level
// (the decoder's fallback). Goldens from the reference, like the rest.
{
  const miniDir = `${outDir}/mini`;
  mkdirSync(miniDir, { recursive: true });
  const vocab = {};
  for (let b = 0; b < 256; b++) vocab[byteChar(b)] = b;
  const merges = [['Ġ', 't'], ['h', 'e'], ['Ġt', 'he'], ['i', 'n'], ['Ġ', 'a'], ['e', 'r'], ['o', 'r'], ['or', 'd'],
    ['w', 'ord'], ['Ġ', 'word'], ['Ġ', 'w'], ['a', 'a'], ['aa', 'a'], ['aa', 'aa'], ['x', 'y']];
  for (const [a, b] of merges) vocab[a + b] = Object.keys(vocab).length;
  vocab['xyz'] = Object.keys(vocab).length;  // reachable only with ignore_merges (the merges stop at 'xy')
  let next = Object.keys(vocab).length;
  const at = (content, special, normalized, extra = {}) => ({ id: next++, content, single_word: false, lstrip: false,
    rstrip: false, normalized, special, ...extra });
  const added = [at('<special>', true, false, { lstrip: true }), at('[R]', true, false, { rstrip: true }),
    at('word', false, true, { single_word: true }), at('\u00c5', false, true), at('a b', false, false),
    at('\u00e9!', false, false), at('<sp', true, false), at('<special>!', false, false)];
  const qwen = JSON.parse(readFileSync(`${tokDir}/tokenizer.json`, 'utf8'));
  const mini = { version: '1.0', truncation: null, padding: null, added_tokens: added, normalizer: { type: 'NFC' },
    pre_tokenizer: qwen.pre_tokenizer, post_processor: qwen.post_processor, decoder: qwen.decoder,
    model: { ...qwen.model, vocab, merges } };
  writeFileSync(`${miniDir}/tokenizer.json`, JSON.stringify(mini, null, 1) + '\n');
  // The same with ignore_merges: a pre-tokenized word that is itself in the vocab becomes that one token.
  mkdirSync(`${miniDir}/ignore_merges`, { recursive: true });
  const mini2 = { ...mini, model: { ...mini.model, ignore_merges: true } };
  writeFileSync(`${miniDir}/ignore_merges/tokenizer.json`, JSON.stringify(mini2, null, 1) + '\n');
  const mt2 = Tokenizer.fromFile(`${miniDir}/ignore_merges/tokenizer.json`);
  const ml2 = [];
  for (const text of ['xyz', ' xyz', 'xyzxyz', 'xy', 'xyz word', 'aaaa', 'the']) {
    const ids = (await mt2.encode(text, null, { addSpecialTokens: false })).getIds();
    ml2.push(JSON.stringify({ text, ids, roundtrip: (await mt2.decode(ids, false)) === text }));
  }
  writeFileSync(`${miniDir}/ignore_merges/encode.jsonl`, ml2.join('\n') + '\n');
  const mt = Tokenizer.fromFile(`${miniDir}/tokenizer.json`);
  const texts = ['x <special> y', 'x  \t<special>y', '<special>', '  <special>', '[R]   z', '[R]\n\nz', 'a word here',
    'awordb', 'word', 'sword', 'words', 'word word', 'the word.', '_word', '1word', 'A\u030a', '\u00c5', 'xA\u030ay',
    'a b c', 'ab', '\u00e9!', 'e\u0301!', '<sp', '<spe', '<special>!', '<special>!!', 'the other word', 'aaaaaaa',
    ' <special>[R] word Å a b é! <sp', '', ' ', 'wordword', 'word\u00a0x', '\u3000word', 'xyz', 'xyzxyz'];
  const ml = [];
  for (const text of texts) {
    const ids = (await mt.encode(text, null, { addSpecialTokens: false })).getIds();
    ml.push(JSON.stringify({ text, ids, roundtrip: (await mt.decode(ids, false)) === text }));
  }
  writeFileSync(`${miniDir}/encode.jsonl`, ml.join('\n') + '\n');
  const dl = [];
  const ids0 = added.map((t) => t.id);
  const seqs = [...ids0.map((i) => [i]), [vocab['Ġ'], ids0[4], vocab['t']], [ids0[5], ids0[0]], [0xc3, ids0[5]],
    [ids0[5], 0xa9], [vocab[byteChar(0xc3)], ids0[3]], [vocab[byteChar(0xc3)], vocab[byteChar(0xa9)], ids0[1]]];
  for (const ids of seqs) for (const skip of [false, true])
    dl.push(JSON.stringify({ ids, skip, text: await mt.decode(ids, skip) }));
  writeFileSync(`${miniDir}/decode.jsonl`, dl.join('\n') + '\n');
}

// Cross-check with transformers.js.
const report = await crossCheck(cases, lines.map((l) => JSON.parse(l).ids), decodeCases);
writeFileSync(`${outDir}/transformers_js_report.json`, JSON.stringify(report, null, 1) + '\n');
console.error(`encode goldens: ${cases.length}, decode goldens: ${decodeCases.length}; ` +
  `transformers.js disagrees on ${report.encode_disagreements} encodes, ${report.decode_disagreements} decodes`);

function byteChar(b) {
  const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  if (printable) return String.fromCodePoint(b);
  let n = 0;
  for (let x = 0; x < b; x++) if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
  return String.fromCodePoint(256 + n);
}

async function crossCheck(cases, refIds, decodeCases) {
  const { AutoTokenizer, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = `${root}/.cache/`;
  const js = await AutoTokenizer.from_pretrained('qwen3-tokenizer');
  const report = { encode_cases: cases.length, encode_disagreements: 0, decode_cases: decodeCases.length,
    decode_disagreements: 0, encode_examples: [], decode_examples: [], by_category: {} };
  cases.forEach((c, i) => {
    const ids = js.encode(c.text, { add_special_tokens: false });
    if (JSON.stringify(ids) !== JSON.stringify(refIds[i])) {
      report.encode_disagreements++;
      report.by_category[c.cat] = (report.by_category[c.cat] ?? 0) + 1;
      if (report.encode_examples.length < 40)
        report.encode_examples.push({ cat: c.cat, text: c.text.slice(0, 300), rust: refIds[i].slice(0, 40), js: ids.slice(0, 40) });
    }
  });
  for (const c of decodeCases) {
    let text;
    // transformers.js throws on ids outside the vocabulary where Rust skips them: compare on the ids it accepts.
    const known = c.ids.filter((id) => id < vocabSize);
    try { text = known.length ? js.decode(known, { skip_special_tokens: c.skip }) : ''; } catch (e) { text = `<error ${e.message}>`; }
    if (text !== c.text) {
      report.decode_disagreements++;
      if (report.decode_examples.length < 20) report.decode_examples.push({ ids: c.ids, skip: c.skip, rust: c.text, js: text });
    }
  }
  return report;
}

// The benchmark text: every translated string of every language, English docs and code, shuffled into paragraphs,
// until `mb` MB of UTF-8.
function writeBenchCorpus(path, mb) {
  const rb = rng(7);
  const paras = [];
  for (const lang of LANGS) {
    const strs = gettextStrings(lang);
    for (let i = 0; i < strs.length; i += 20) paras.push(strs.slice(i, i + 20).join(' '));
  }
  for (const d of englishDocs(2000)) paras.push(d);
  for (const c of sourceCode(2000)) paras.push(c);
  rb.shuffle(paras);
  let out = '', bytes = 0;
  for (let i = 0; bytes < mb * 1e6; i = (i + 1) % paras.length) {
    out += paras[i] + '\n\n';
    bytes += Buffer.byteLength(paras[i]) + 2;
  }
  writeFileSync(path, out);
  console.error(`bench corpus: ${path}, ${(bytes / 1e6).toFixed(1)} MB from ${paras.length} paragraphs`);
}
