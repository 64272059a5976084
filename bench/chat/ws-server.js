// The peer for bench/chat: a chat broadcast server on the `ws` package, the
// way Node chat servers are commonly written. It speaks the same protocol
// subset as sugarcastd for the load generator: a welcome on join, and every
// {"type":"chat"} message re-encoded and sent to everyone in the room.
//
//   node ws-server.js PORT
'use strict';
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 8090);
const rooms = new Map();
let seq = 0;

const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 4096, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const room = req.url.split('?')[0];
  if (!rooms.has(room)) rooms.set(room, new Set());
  const members = rooms.get(room);
  members.add(ws);
  ws.send(JSON.stringify({ v: 1, type: 'welcome', stream: room, viewers: members.size, history: [] }));
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (m.type !== 'chat' || typeof m.text !== 'string') return;
    const out = JSON.stringify({
      v: 1, type: 'chat', id: String(++seq), user: { id: 'u', name: 'user' }, text: m.text, ts: Date.now(),
    });
    for (const client of members) client.send(out);
  });
  ws.on('close', () => members.delete(ws));
});
wss.on('listening', () => console.log(`ws peer listening on ${port}`));
