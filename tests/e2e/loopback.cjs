// Preloaded into the Agents Playground (node --require): it has no host option
// and listens on every interface, so a listen() given only a port binds
// 127.0.0.1 instead. The suite's servers stay on loopback.
'use strict';
const net = require('node:net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const portOnly = (typeof args[0] === 'number' || typeof args[0] === 'string') &&
    (args.length === 1 || typeof args[1] === 'function');
  if (portOnly && !Number.isNaN(Number(args[0]))) args.splice(1, 0, '127.0.0.1');
  return listen.apply(this, args);
};
