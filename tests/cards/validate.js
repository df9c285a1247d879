#!/usr/bin/env node
// Parses expanded cards with the official `adaptivecards` renderer library
// (in jsdom, since it needs a DOM) and reports every parse or validation
// event. Input: a JSON array of {"name", "card"} on stdin; output: a JSON
// array of {"name", "events": [..]}; an empty list means the card is valid.
'use strict';
const { JSDOM } = require('jsdom');

const dom = new JSDOM('<!DOCTYPE html><html><body></body></html>');
const w = dom.window;
global.window = w;
global.document = w.document;
Object.defineProperty(global, 'navigator', { value: w.navigator, configurable: true });
for (const key of Object.getOwnPropertyNames(w)) {
  if (/^(HTML|SVG)/.test(key) || key === 'Node' || key === 'Element' || key === 'DocumentFragment') {
    global[key] = w[key];
  }
}
const AC = require('adaptivecards/dist/adaptivecards.js');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const jobs = JSON.parse(input);
  const results = jobs.map(({ name, card }) => {
    const events = [];
    try {
      const adaptiveCard = new AC.AdaptiveCard();
      const context = new AC.SerializationContext();
      adaptiveCard.parse(card, context);
      for (let i = 0; i < context.eventCount; i++) {
        const e = context.getEventAt(i);
        events.push(`parse: ${AC.ValidationEvent[e.event]}: ${e.message}`);
      }
      for (const e of adaptiveCard.validateProperties().validationEvents) {
        events.push(`validate: ${AC.ValidationEvent[e.event]}: ${e.message}`);
      }
      // Rendering catches what parsing lets through (it is what Teams does next).
      if (!adaptiveCard.render()) events.push('render: nothing rendered');
    } catch (e) {
      events.push(`exception: ${e && e.message ? e.message : e}`);
    }
    return { name, events };
  });
  process.stdout.write(JSON.stringify(results));
});
