// Hand-written edge cases for the tokenizer goldens: each line is here because some tokenizer got it wrong once
// or because it sits on a branch of the pre-tokenizer regex.
export function edgeCases() {
  const ws = ['', ' ', '  ', '   ', '\t', '\n', '\r', '\r\n', '\n\n', '\n\n\n', ' \n', '\n ', ' \n ', '\r\r', '\r\n\r\n',
    '\u00a0', '\u3000', '\u2003', '\u0085', '\u2028', '\u2029', '\u202f', '\u205f', '\u1680', '\u180e', '\u200b',
    '\x0b', '\x0c', '\x1c', '\x1d', '\x1e', '\x1f', '\ufeff'];
  const out = [...ws];
  for (const a of ws) for (const b of ['x', 'Hello', '1', '!', '\u4e2d', '']) out.push(a + b, b + a, b + a + b, a + a + b);
  out.push(
    'Hello world', 'Hello  world', 'Hello   world', 'Hello world ', 'Hello world  ', ' Hello', '  Hello', 'trailing   ',
    'a\r\nb\r\nc', 'a\rb\rc', 'line1\n\n\nline2', 'x \n\n y', 'tab\tseparated\tvalues', '\t\tindented', 'a \t b',
    'mixed \u00a0 nbsp', 'ideographic\u3000space', '\u3000\u3000全角', 'end with newline\n', '\n\nstart',
    // contractions, upper and lower case, and near misses
    "don't", "DON'T", "I'm", "I'M", "you're", "YOU'RE", "we've", "WE'VE", "she'll", "SHE'LL", "he'd", "HE'D", "it's", "IT'S",
    "isn't", "Ain'T", "'s", "'S", "'t", "'re", "'Re", "'rE", "'ve", "'m", "'ll", "'lL", "'d", "'x", "''", "'", "' s",
    "'ſ", "'ſt", "o'clock", "rock'n'roll", "l'homme", "dell'anno", "'sup", "'tis", "'LLama", "x's'", "'s's", "’s", "the dog’s",
    "1's", " 's", "\n's", "'\n", "'123", "'ß", "'K", "'\u212a",
    // digits: always one per token
    '0', '12', '123', '1234567890', '3.14159265358979323846264338327950288419716939937510', '1,000,000', '-42', '+7',
    '12345678901234567890123456789012345678901234567890123456789012345678901234567890', '2026-05-29T07:30:00Z',
    '٠١٢٣٤٥٦٧٨٩', '१२३', '①②③', 'Ⅻ', '½', '²³', '１２３', '𝟙𝟚𝟛', 'x1y2z3', 'v1.2.3-rc4', '0x1F', '1e-9',
    // punctuation runs and newlines after them
    '!!!', '...', '?!', '!!!\n', '!!!\n\n\n', ' !!!\r\n', '--', '-- --', '***bold***', '#include <stdio.h>', '->', '=>',
    '(a, b) => a + b', 'x == y && y != z', '[1, 2, 3]', '{"key": "value"}', '<div class="x">hi</div>', '$HOME/.bashrc',
    '@user #tag', 'email@example.com', 'https://example.com/path?q=1&r=2#frag', 'C:\\Windows\\System32',
    // code with tabs and runs of spaces
    'def f(x):\n    return x * 2\n', 'int main() {\n\tprintf("hi\\n");\n\treturn 0;\n}\n', '\t\t\tdeep\n\t\t\t\tdeeper',
    '    four\n        eight\n', 'if (a)\n{\n  b;\n}\n\n\n', 'x  =  1   # comment   \n', 'SELECT *\n  FROM t\n WHERE x = 1;',
    'foo:\n\tgcc -O2 -o $@ $^\n', '```python\nprint("x")\n```', '| a | b |\n|---|---|\n| 1 | 2 |',
    // letters with a one-character prefix
    '.hidden', '-flag', '_private', '__init__', '$var', '@decorator', '#hash', '"quoted"', '«guillemets»', '¿Qué?', '¡Hola!',
    '\u00a0word', '\u3000word', '\tword', '\nword', '\rword', '\u2003word', '…and', '—dash', '“smart quotes”',
    // maths
    '∀x∈ℝ: x² ≥ 0', '∑_{i=1}^{n} i = n(n+1)/2', 'E = mc²', '∫₀^∞ e^{-x²} dx = √π/2', 'α + β = γ', 'f′(x) ≠ 0', '⟨ψ|φ⟩',
    '𝔸𝔹ℂ', '𝒜ℬ𝒞', '∞ ≈ ∅ ⊂ ⊆ ∪ ∩', '½ + ¼ = ¾', '1/3 ≈ 0.333…',
    // scripts
    'Ελληνικά κείμενα', 'Русский текст', 'العربية لغة جميلة', 'עברית קשה', 'हिन्दी भाषा', 'ภาษาไทยไม่มีช่องว่าง', '中文没有空格',
    '日本語のテキスト、カタカナ、ひらがな。', '한국어 텍스트', 'Tiếng Việt có dấu', 'ქართული', 'Հայերեն', 'አማርኛ', 'ᏣᎳᎩ',
    'मैंने', 'क्षत्रिय', 'ไม่', 'ﷺ', 'ﷲ', 'Ǆǅǆ', 'ǈ', 'ß', 'ẞ', 'İstanbul', 'ıi', 'ŉ', 'ﬁne', 'Ⅷ', 'ｶﾀｶﾅ',
    // very long words and runs
    'a'.repeat(1000), 'ab'.repeat(700), 'Donaudampfschifffahrtselektrizitätenhauptbetriebswerkbauunterbeamtengesellschaft',
    'pneumonoultramicroscopicsilicovolcanoconiosis', 'x'.repeat(5000), ' '.repeat(300), '\n'.repeat(200), '\t'.repeat(100),
    '!'.repeat(500), '中'.repeat(800), 'а'.repeat(700), '0'.repeat(300), 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
    ' '.repeat(20000), '\n \n'.repeat(3000), '\t\n'.repeat(3000) + 'x', '中文'.repeat(5000), '😀'.repeat(3000), 'ab '.repeat(5000) + '   x',
    '<|im_start|>'.repeat(2000), 'a'.repeat(30000), 'ThisIsAVeryLongCamelCaseIdentifierThatGoesOnAndOnWithoutAnySpacesAtAllForTestingPurposes',
    'abcdefghijklmnopqrstuvwxyz'.repeat(40), 'ÄÖÜäöü'.repeat(200), 'ab\u0301'.repeat(300),
    // control characters and odd code points
    '\x00', 'a\x00b', '\x01\x02\x03', '\x7f', '\u0080\u009f', '\ufffd', '\uffff', '\u{10ffff}', '\ue000', '\u{f0000}',
    '\u200d', '\u200c', '\u2060', 'a\u0301', '\u0301', '\u0301\u0301a', 'e\u0308\u0301', 'Å', 'Å', 'Å',
  );
  return out;
}

export function emojiCases() {
  const e = ['😀', '👍', '👍🏻', '👍🏽', '👍🏿', '👨‍👩‍👧‍👦', '👩‍❤️‍💋‍👨', '🏳️‍🌈', '🏴‍☠️', '🇩🇪', '🇯🇵🇺🇸', '🧑🏽‍💻', '👩🏿‍🚀', '1️⃣', '#️⃣',
    '❤️', '❤', '☺️', '🫠', '🫶🏼', '🐈‍⬛', '🧔🏻‍♂️', '👁️‍🗨️', '🏴󠁧󠁢󠁳󠁣󠁴󠁿', '©️', '™', '🀄', '🃏', '⌚', '🥲'];
  const out = [...e];
  for (let i = 0; i < e.length; i++) {
    out.push(`Hello ${e[i]} world`, `${e[i]}${e[(i + 1) % e.length]}${e[(i + 2) % e.length]}`, ` ${e[i]}\n`,
      `word${e[i]}word`, `${e[i]}!`, `${e[i]} ${e[i]}  ${e[i]}`);
  }
  return out;
}

export function specialTokenCases(added) {
  const toks = added.map((t) => t.content);
  const out = [];
  for (const t of toks) {
    out.push(t, ` ${t} `, `x${t}y`, `${t}${t}`, `\n${t}\n`, `${t.slice(0, -1)}`, `${t.slice(1)}`, t.toUpperCase(),
      `${t.slice(0, 2)} ${t.slice(2)}`, `<${t}>`, `${t}'s`, `${t}123`);
  }
  out.push(
    '<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
    '<think>\nreasoning here\n</think>\n\nanswer', '<think></think>', '<thinking>', '</think >', '< think>', '<think',
    '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>', '<tool_call\n>', '<|im_start', '<|im_start|', '<|im_start>',
    '|im_start|>', '<||im_start|>', '<|im_start|im_end|>', '<|endoftext|><|endoftext|>', '<|end of text|>',
    '<|endoftext|>text after', 'text before<|endoftext|>', '<<|im_start|>>', '<|<|im_end|>|>', '<|im_end|>\n\n\n',
    '<|IM_START|>', '<|im_start|>\u0301', 'é<|im_end|>é', '\u0065<|im_end|>\u0301', '<|fim_prefix|>def f():<|fim_suffix|>\n<|fim_middle|>',
    '<|vision_start|><|image_pad|><|image_pad|><|vision_end|>', '<tool_response>\nok\n</tool_response>', '<|',
    '|>', '<>', '</>', '<|im_start|><|im_start|><|im_start|>', 'a<think>b</think>c<tool_call>d</tool_call>e',
  );
  return out;
}
