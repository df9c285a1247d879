#!/usr/bin/env node
// The reference expander for tests/cards_reference.rs: reads a JSON array of
// {"name", "template", "data"} on stdin, expands each with the official
// adaptivecards-templating package, writes a JSON array of
// {"name", "card"} or {"name", "error"} on stdout. One process for all cards.
'use strict';
const { Template } = require('adaptivecards-templating');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const jobs = JSON.parse(input);
  const results = jobs.map(({ name, template, data }) => {
    try {
      return { name, card: new Template(template).expand({ $root: data }) };
    } catch (e) {
      return { name, error: String(e && e.message ? e.message : e) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
