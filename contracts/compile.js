// Compiles every contract under src/ with solc-js (the exact version pinned in package-lock.json),
// optimizer on, and writes one artifact per contract to out/<Name>.json: { contractName, sourceName,
// abi, bytecode, deployedBytecode }. Rust reads these through alloy's `sol!`, so a Rust build needs no Node.
//
//   node compile.js          write the artifacts
//   node compile.js --check  compile and fail if the committed artifacts differ (run by the test command)
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = __dirname;
const SRC = path.join(ROOT, "src");
const OUT = path.join(ROOT, "out");
const check = process.argv.includes("--check");

function listSol(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return listSol(p);
    return e.name.endsWith(".sol") ? [p] : [];
  }).sort();
}

const sources = {};
for (const file of listSol(SRC)) {
  sources[path.relative(ROOT, file).split(path.sep).join("/")] = { content: fs.readFileSync(file, "utf8") };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    viaIR: false,
    evmVersion: "cancun",
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

function findImports(importPath) {
  const candidates = [path.join(ROOT, "node_modules", importPath), path.join(ROOT, importPath)];
  for (const c of candidates) {
    if (fs.existsSync(c)) return { contents: fs.readFileSync(c, "utf8") };
  }
  return { error: `import not found: ${importPath} (run npm ci in contracts/)` };
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
// The transient-storage warning is solc's general advice; SecurityGate keeps an attestation for the whole
// transaction on purpose (docs/screening.md).
for (const e of output.errors || []) {
  if (e.severity !== "error" && !/SPDX|code size|Transient storage as defined by EIP-1153/.test(e.message)) process.stderr.write(e.formattedMessage + "\n");
}
if (errors.length) {
  for (const e of errors) process.stderr.write(e.formattedMessage + "\n");
  process.exit(1);
}

const artifacts = {};
for (const [sourceName, contracts] of Object.entries(output.contracts)) {
  if (!sourceName.startsWith("src/")) continue;
  for (const [name, c] of Object.entries(contracts)) {
    if (artifacts[name]) {
      process.stderr.write(`two contracts named ${name}: ${artifacts[name].sourceName} and ${sourceName}\n`);
      process.exit(1);
    }
    artifacts[name] = {
      contractName: name,
      sourceName,
      compiler: `solc-js ${solc.version()}`,
      abi: c.abi,
      bytecode: "0x" + c.evm.bytecode.object,
      deployedBytecode: "0x" + c.evm.deployedBytecode.object,
    };
  }
}

let differ = 0;
if (!check) fs.mkdirSync(OUT, { recursive: true });
const wanted = new Set();
for (const [name, a] of Object.entries(artifacts)) {
  const file = path.join(OUT, `${name}.json`);
  wanted.add(`${name}.json`);
  const text = JSON.stringify(a, null, 1) + "\n";
  if (check) {
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
    if (old !== text) {
      process.stderr.write(`contracts/out/${name}.json differs from a fresh compile (run: npm --prefix contracts run build)\n`);
      differ++;
    }
  } else {
    fs.writeFileSync(file, text);
  }
}
if (fs.existsSync(OUT)) {
  for (const f of fs.readdirSync(OUT)) {
    if (f.endsWith(".json") && !wanted.has(f)) {
      if (check) {
        process.stderr.write(`contracts/out/${f} has no source any more\n`);
        differ++;
      } else fs.unlinkSync(path.join(OUT, f));
    }
  }
}
if (differ) process.exit(1);
console.log(`${check ? "checked" : "wrote"} ${Object.keys(artifacts).length} artifacts with solc-js ${solc.version()}`);
