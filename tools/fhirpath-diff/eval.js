#!/usr/bin/env node
// Reference evaluator for Concord's FHIRPath differential test. Reads NDJSON lines
// {"resource": {...}, "expression": "..."} on stdin and writes, one line per input line and
// in order, {"result": [...]} or {"error": "..."} — the format of `concord fhirpath --batch`.
'use strict';

const readline = require('readline');
const fhirpath = require('fhirpath');
const r4model = require('fhirpath/fhir-context/r4');

const { FP_Type, FP_Quantity, ResourceNode } = require('fhirpath/src/types.js');

// Internal types are converted here rather than by the library, which would turn a
// System.Quantity into a string such as "1 'mg'"; Concord writes {"value", "unit"}.
function render(item) {
  if (item instanceof ResourceNode) {
    item = item.data;
  }
  if (item instanceof FP_Quantity) {
    // UCUM units are held quoted ('mg'); calendar units (year) are not.
    const unit = String(item.unit).replace(/^'(.*)'$/, '$1');
    return { value: item.value.toJSON(), unit };
  }
  if (item instanceof FP_Type) {
    return item.toJSON();
  }
  if (typeof item === 'bigint') {
    return Number(item);
  }
  return item;
}

function replacer(_key, value) {
  if (value instanceof FP_Type || value instanceof ResourceNode) {
    return render(value);
  }
  if (typeof value === 'bigint') {
    return Number(value);
  }
  return value;
}

function answer(line) {
  if (line.trim() === '') {
    return { error: 'empty line' };
  }
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    return { error: 'invalid JSON: ' + e.message };
  }
  if (req === null || typeof req !== 'object' || typeof req.expression !== 'string') {
    return { error: 'missing "expression"' };
  }
  try {
    const resource = req.resource == null ? {} : req.resource;
    const out = fhirpath.evaluate(resource, req.expression, null, r4model,
      { resolveInternalTypes: false });
    // A null item is a primitive with only extensions; the library drops those too.
    return { result: out.map(render).filter((x) => x != null) };
  } catch (e) {
    return { error: String((e && e.message) || e) };
  }
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const chunks = [];
rl.on('line', (line) => {
  let text;
  try {
    text = JSON.stringify(answer(line), replacer);
  } catch (e) {
    text = JSON.stringify({ error: 'unrenderable result: ' + e.message });
  }
  chunks.push(text);
  if (chunks.length >= 256) {
    process.stdout.write(chunks.join('\n') + '\n');
    chunks.length = 0;
  }
});
rl.on('close', () => {
  if (chunks.length > 0) {
    process.stdout.write(chunks.join('\n') + '\n');
  }
});
