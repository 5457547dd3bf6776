// The fixed fixture sentences for the use_lite plugin.  Varied on purpose:
// each group exercises a different part of the tokenizer (normalisation,
// unknown-piece merging, UTF-16 surrogate handling, whitespace) or the model
// (truncation at 128 tokens, the empty sequence).  Changing this list changes
// tests/plugins/fixtures/use_lite_reference.json; regenerate with
// scripts/gen-use-lite-fixtures.
'use strict';

// ~2000 characters, well past the model's 128-token window.
const LONG = (() => {
  const words = [
    'The', 'quick', 'brown', 'fox', 'jumps', 'over', 'the', 'lazy', 'dog',
    'while', 'seventeen', 'curious', 'engineers', 'measure', 'latency,',
    'throughput', 'and', 'tail', 'percentiles', 'of', 'their', 'inference',
    'daemon;', 'nobody', 'expected', 'the', 'Erlang', 'cluster', 'to',
    'behave', 'so', 'well.',
  ];
  const out = [];
  let n = 0;
  for (let i = 0; n < 2000; i++) {
    const w = words[(i * 7) % words.length];
    out.push(w);
    n += w.length + 1;
  }
  return out.join(' ').slice(0, 2000);
})();

module.exports = [
  // Paraphrases and unrelated sentences (the similarity test uses these).
  'A man is playing a guitar.',
  'Someone plays the guitar.',
  'The stock market fell sharply today.',
  'How old are you?',
  'What is your age?',
  'The weather is lovely this afternoon.',
  'It is sunny and warm outside today.',
  'I like to eat pizza with my friends.',
  'Quantum chromodynamics describes the strong interaction.',
  'Hello world',
  'hello',
  'dog',
  'The cat sat on the mat.',
  'A cat is sitting on a rug.',
  'Machine learning models need good data.',
  // Mixed case.
  'HeLLo WoRLD, tHiS iS MiXeD CaSe!',
  'ALL CAPS SENTENCE ABOUT NASA AND THE USA',
  'iPhone eBay McDonald\'s O\'Reilly',
  // Accents and other scripts.
  'Café au lait, naïve façade, crème brûlée.',
  'Zürich ist eine schöne Stadt am See.',
  'El niño comió pan y jamón en España.',
  'Ångström, Øresund, Œuvre, Æsir',
  'Привет, как дела?',
  'Γειά σου Κόσμε',
  'مرحبا بالعالم',
  'नमस्ते दुनिया',
  'שלום עולם',
  // CJK.
  '我爱自然语言处理。',
  '日本語のテキストです',
  '한국어 문장입니다',
  'Mixed 中文 and English text',
  // Emoji (astral code points: surrogate pairs in UTF-16).
  'I love it 😀😀😀',
  '👍🏽 thumbs up',
  '👨‍👩‍👧‍👦 family',
  '🔥',
  'Rocket 🚀 launch at 10:00',
  // Punctuation only.
  '!!!',
  '...',
  '?!?!',
  '()[]{}<>',
  '--- *** ___',
  // Numbers.
  '3.14159',
  '1,000,000 dollars',
  'Call 555-0199 before 2024-01-01 at 10:00:00',
  '42',
  '0x7fff 1e-9 -273.15',
  // Whitespace.
  'hello    world',
  '   leading and trailing spaces   ',
  'tabs\tand\nnewlines\r\nhere',
  ' ',
  '',
  'a',
  // NFKC-sensitive input: ligatures, full-width, superscripts, circled,
  // no-break space, compatibility Hangul, decomposed accents.
  'ﬁne ﬂour',
  'ＡＢＣ１２３ full width',
  'x² + y³ = z⁴',
  '① ② ③',
  'no\u00a0break\u00a0space',
  'e\u0301te\u0301 decomposed',
  '\u3131\u314f',
  // Markup, code, identifiers.
  '<p>Hello <b>there</b></p>',
  'int main() { return 0; }',
  'https://example.com/path?q=1&r=2',
  'user.name+tag@example.org',
  'snake_case_identifier and camelCaseIdentifier',
  // Unknown characters and control symbols as text.
  '<s> </s> extra_token_id_1',
  '\u2581\u2581 lower blocks \u2581',
  '\u0000\u0001 control chars',
  // Long: exercises truncation to 128 tokens.
  LONG,
];
