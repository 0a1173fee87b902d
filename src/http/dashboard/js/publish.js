// The publish form: POST /api/v1/publish {topic, payload, qos, retain} (UTF-8 payloads).
import { api } from './api.js';
import { $ } from './util.js';

export class Publish {
  constructor(onError) {
    $('publish-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const result = $('publish-result');
      const body = {
        topic: $('publish-topic').value,
        payload: $('publish-payload').value,
        qos: Number($('publish-qos').value),
        retain: $('publish-retain').checked,
      };
      result.className = '';
      result.textContent = 'Publishing…';
      try {
        await api('POST', '/api/v1/publish', body);
        result.className = 'ok';
        result.textContent = `Published to ${body.topic} (QoS ${body.qos}${body.retain ? ', retained' : ''}).`;
        onError(null);
      } catch (e) {
        result.className = 'error';
        result.textContent = `Not published: ${e.message}`;
      }
    });
  }
}
