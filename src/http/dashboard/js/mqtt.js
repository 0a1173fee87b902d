// A small MQTT 3.1.1 client over WebSocket (subprotocol "mqtt"), enough for the topic explorer:
// CONNECT, SUBSCRIBE / UNSUBSCRIBE, PUBLISH in (QoS 0; QoS 1/2 are acknowledged in case the
// broker grants them), PINGREQ every keepalive / 2, DISCONNECT. Packets may arrive split over
// WebSocket messages or several in one: bytes are buffered until a packet is complete.
const encoder = new TextEncoder();

function utf8String(s) {
  const b = encoder.encode(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

function varint(n) {
  const out = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

function packet(type, body) {
  return new Uint8Array([type, ...varint(body.length), ...body]);
}

const CONNACK_REASONS = {
  1: 'unacceptable protocol version', 2: 'client identifier rejected', 3: 'server unavailable',
  4: 'bad user name or password', 5: 'not authorized',
};

export class MqttClient extends EventTarget {
  // options: {clientId, username, password, keepalive (s)}
  constructor(url, options = {}) {
    super();
    this.url = url;
    this.options = { keepalive: 30, ...options };
    this.buffer = new Uint8Array(0);
    this.nextId = 1;
    this.pending = new Map();  // packet id -> {resolve, reject}
    this.connected = false;
  }

  // Resolves once the broker accepted the connection (CONNACK 0).
  connect(timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (message) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new Error(message));
        this.close();
      };
      const timer = setTimeout(() => fail(`no CONNACK within ${timeoutMs / 1000} s`), timeoutMs);
      this.onConnack = (code) => {
        if (code !== 0) return fail(`the broker refused the connection: ${CONNACK_REASONS[code] ?? `code ${code}`}`);
        settled = true;
        clearTimeout(timer);
        this.connected = true;
        const every = Math.max(1, this.options.keepalive / 2) * 1000;
        this.pinger = setInterval(() => this.send(new Uint8Array([0xc0, 0])), every);
        resolve();
      };
      try {
        this.ws = new WebSocket(this.url, ['mqtt']);
      } catch (e) {
        return fail(`bad WebSocket URL: ${e.message}`);
      }
      this.ws.binaryType = 'arraybuffer';
      this.ws.onopen = () => this.send(this.connectPacket());
      this.ws.onmessage = (ev) => this.receive(new Uint8Array(ev.data));
      this.ws.onerror = () => fail(`could not open ${this.url}`);
      this.ws.onclose = (ev) => {
        fail(`the connection closed (code ${ev.code})`);
        this.closed(ev.code);
      };
    });
  }

  connectPacket() {
    const o = this.options;
    let flags = 0x02;  // clean session: the explorer keeps nothing between visits
    const payload = utf8String(o.clientId ?? '');
    if (o.username) {
      flags |= 0x80;
      payload.push(...utf8String(o.username));
      if (o.password) {
        flags |= 0x40;
        payload.push(...utf8String(o.password));
      }
    }
    const header = [...utf8String('MQTT'), 4, flags, o.keepalive >> 8, o.keepalive & 0xff];
    return packet(0x10, [...header, ...payload]);
  }

  // Resolves to the granted QoS per filter (0x80: refused).
  subscribe(filters) {
    const id = this.packetId();
    const body = [id >> 8, id & 0xff];
    for (const f of filters) body.push(...utf8String(f), 0);
    return this.request(id, packet(0x82, body));
  }

  unsubscribe(filters) {
    const id = this.packetId();
    const body = [id >> 8, id & 0xff];
    for (const f of filters) body.push(...utf8String(f));
    return this.request(id, packet(0xa2, body));
  }

  disconnect() {
    if (this.connected) this.send(new Uint8Array([0xe0, 0]));
    this.close();
  }

  close() {
    clearInterval(this.pinger);
    this.connected = false;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close();
  }

  // internals

  packetId() {
    const id = this.nextId;
    this.nextId = id === 0xffff ? 1 : id + 1;
    return id;
  }

  request(id, bytes) {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send(bytes);
    });
  }

  send(bytes) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  closed(code) {
    const was = this.connected;
    this.close();
    for (const p of this.pending.values()) p.reject(new Error('the connection closed'));
    this.pending.clear();
    if (was) this.dispatchEvent(new CustomEvent('close', { detail: { code } }));
  }

  receive(bytes) {
    const all = new Uint8Array(this.buffer.length + bytes.length);
    all.set(this.buffer);
    all.set(bytes, this.buffer.length);
    let at = 0;
    for (;;) {
      // Fixed header: type byte, then a remaining length of 1 to 4 bytes.
      let length = 0, mult = 1, i = at + 1, complete = false;
      for (; i < all.length && i < at + 5; i++) {
        length += (all[i] & 0x7f) * mult;
        mult *= 128;
        if (!(all[i] & 0x80)) { complete = true; i++; break; }
      }
      if (!complete || i + length > all.length) break;
      this.handle(all[at], all.subarray(i, i + length));
      at = i + length;
    }
    this.buffer = all.slice(at);
  }

  handle(first, body) {
    const type = first >> 4;
    const u16 = (o) => (body[o] << 8) | body[o + 1];
    switch (type) {
      case 2: return this.onConnack?.(body[1]);
      case 3: {
        const qos = (first >> 1) & 3;
        const topicLength = u16(0);
        const topic = new TextDecoder().decode(body.subarray(2, 2 + topicLength));
        let at = 2 + topicLength;
        if (qos > 0) {
          const id = u16(at);
          at += 2;
          this.send(new Uint8Array(qos === 1 ? [0x40, 2, id >> 8, id & 0xff] : [0x50, 2, id >> 8, id & 0xff]));
        }
        const message = { topic, payload: body.slice(at), qos, retain: (first & 1) === 1 };
        return this.dispatchEvent(new CustomEvent('message', { detail: message }));
      }
      case 6: {  // PUBREL of a QoS 2 message: PUBCOMP
        const id = u16(0);
        return this.send(new Uint8Array([0x70, 2, id >> 8, id & 0xff]));
      }
      case 9: case 11: {  // SUBACK, UNSUBACK
        const p = this.pending.get(u16(0));
        this.pending.delete(u16(0));
        return p?.resolve(Array.from(body.subarray(2)));
      }
      default: return undefined;  // PINGRESP and the rest need nothing
    }
  }
}
