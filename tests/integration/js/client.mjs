// MQTT.js under Node for tests/integration/test_websocket.py.
//
//   node client.mjs '{"url": "ws://127.0.0.1:PORT/mqtt", "topic": "t", "id": "c1",
//                     "protocolVersion": 4, "ca": "/path/ca.pem"}'
//
// Connects (verifying a wss server against `ca` if given), subscribes to `topic` with QoS 1,
// publishes "hello from mqtt.js" to it with QoS 1 (with a user property under MQTT 5), waits for
// that message to come back, disconnects, and prints one JSON line of what it saw; exits 0 if
// all of that happened, 1 on an error, 2 if it took longer than `timeout_ms`.
import fs from 'node:fs';
import mqtt from 'mqtt';

const o = JSON.parse(process.argv[2] || '{}');
const seen = { url: o.url, protocolVersion: o.protocolVersion || 4 };
const done = (code, extra) => {
  process.stdout.write(JSON.stringify({ ...seen, ...extra }) + '\n');
  process.exit(code);
};
setTimeout(() => done(2, { error: 'timed out', stage: seen.stage }), o.timeout_ms || 10000).unref();

const options = {
  clientId: o.id,
  protocolVersion: o.protocolVersion || 4,
  clean: true,
  reconnectPeriod: 0,
  connectTimeout: 5000,
};
if (o.ca) options.ca = fs.readFileSync(o.ca);
const v5 = options.protocolVersion === 5;

seen.stage = 'connect';
const client = mqtt.connect(o.url, options);
client.on('error', (e) => done(1, { error: String((e && e.message) || e), stage: seen.stage }));
client.on('close', () => { if (seen.stage !== 'end') done(1, { error: 'connection closed', stage: seen.stage }); });
client.on('connect', (connack) => {
  seen.connack = { sessionPresent: connack.sessionPresent, reasonCode: v5 ? connack.reasonCode : connack.returnCode };
  seen.stage = 'subscribe';
  client.subscribe(o.topic, { qos: 1 }, (err, granted) => {
    if (err) return done(1, { error: String(err), stage: seen.stage });
    seen.granted = granted.map((g) => g.qos);
    seen.stage = 'publish';
    const publishOptions = { qos: 1 };
    if (v5) publishOptions.properties = { userProperties: { origin: 'mqtt.js' } };
    client.publish(o.topic, o.message || 'hello from mqtt.js', publishOptions, (err) => {
      if (err) return done(1, { error: String(err), stage: seen.stage });
      seen.published = true;
      if (seen.stage === 'publish') seen.stage = 'receive';
    });
  });
});
client.on('message', (topic, payload, packet) => {
  seen.received = { topic, payload: payload.toString(), qos: packet.qos };
  if (v5) seen.received.userProperties = (packet.properties || {}).userProperties || null;
  seen.stage = 'end';
  client.end(false, {}, () => done(0, {}));
});
