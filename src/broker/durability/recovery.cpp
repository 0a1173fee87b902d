// Start-up recovery: rebuilds the broker's state from the store before the workers start, so
// this runs on the main thread and may call into every worker directly.
#include <algorithm>
#include <thread>
#include <unordered_map>
#include <vector>

#include "broker/durability/recovery.hpp"

#include "base/log.hpp"
#include "broker/durability/persistence.hpp"
#include "broker/store/records.hpp"

namespace hermod::broker {

namespace {

struct Placed {
  RecoveryTarget* worker;
  Session* session;
};

struct QueueScan {
  std::size_t queued = 0;
  std::uint64_t max_id = 0;
  std::vector<std::string> orphans;  // keys to delete: no session, no body, or undecodable
};

// One thread's share of the queue records: from `from` to `to` (exclusive).
QueueScan scan_queues(store::Store& store, std::string_view from, std::string_view to,
                      const std::unordered_map<std::uint64_t, Placed>& sessions,
                      const std::unordered_map<std::uint64_t, std::shared_ptr<Message>>& bodies) {
  QueueScan out;
  // Keys come in session order: the session is looked up once per run of its keys.
  std::uint64_t last_uid = 0;
  Session* session = nullptr;
  store.scan_range(from, to, [&](std::string_view k, std::string_view v) {
    const auto uid = store::key_u64(k, 1);
    const auto seq = store::key_u64(k, 9);
    if (uid != last_uid || !session) {
      auto it = sessions.find(uid);
      session = it == sessions.end() ? nullptr : it->second.session;
      last_uid = uid;
    }
    auto r = store::decode_queue(v);
    if (!session || !r) {
      out.orphans.emplace_back(k);
      return;
    }
    std::shared_ptr<Message> message;
    if (r->body) {
      message = from_body_record(std::move(*r->body));  // its only stored recipient
    } else {
      auto body = bodies.find(r->body_id);
      if (body == bodies.end()) {
        out.orphans.emplace_back(k);
        return;
      }
      message = body->second;
      message->store_refs.fetch_add(1, std::memory_order_relaxed);
    }
    out.max_id = std::max(out.max_id, seq);
    OutboundMessage msg;
    msg.message = std::move(message);
    msg.qos = r->qos;
    msg.retain = r->retain;
    msg.inline_body = r->body.has_value();
    msg.set_subscription_ids(std::move(r->subscription_ids));
    msg.set_shared_filter(std::move(r->shared_filter));
    msg.store_key = seq;
    if (r->packet_id != 0 && !session->inflight().contains(r->packet_id)) {
      // In flight when the broker stopped: resent with DUP (or PUBREL) when the client returns.
      // (A second record with the same packet id, which a healthy store never holds, is queued.)
      session->inflight().insert(
          r->packet_id, InflightMessage{std::move(msg), session->next_sequence(), static_cast<InflightMessage::State>(r->state)});
    } else {
      session->restore_queued(std::move(msg));
    }
    ++out.queued;
  });
  return out;
}

}  // namespace

void recover(store::Store& store, RetainedStore& retained_store, const SessionDirectory& directory,
             std::span<RecoveryTarget> targets) {
  const auto started = std::chrono::steady_clock::now();
  store::Batch cleanup;  // orphans left by a crash between two workers' commits
  std::uint64_t max_id = 0;

  std::unordered_map<std::uint64_t, std::shared_ptr<Message>> bodies;
  store.scan("m", [&](std::string_view k, std::string_view v) {
    const auto id = store::key_u64(k, 1);
    auto r = store::decode_body(v);
    if (!r) return cleanup.del(k);
    auto m = from_body_record(std::move(*r));
    m->store_id = id;
    max_id = std::max(max_id, id);
    bodies.emplace(id, std::move(m));
  });

  std::size_t retained = 0;
  store.scan("r", [&](std::string_view k, std::string_view v) {
    auto r = store::decode_body(v);
    if (!r) return cleanup.del(k);
    retained_store.set(from_body_record(std::move(*r)));
    ++retained;
  });

  std::unordered_map<std::uint64_t, Placed> sessions;
  store.scan("s", [&](std::string_view k, std::string_view v) {
    const auto uid = store::key_u64(k, 1);
    auto r = store::decode_session(v);
    if (!r) return cleanup.del(k);
    RecoveryTarget& w = targets[directory.home(r->client_id)];
    Session& s = w.sessions.create(r->client_id, r->expiry_interval, uid);
    s.set_stored(true);
    // Offline since the record says, or since now if it was online when the broker stopped.
    s.mark_disconnected(r->offline_since_ms ? from_wall_ms(r->offline_since_ms) : std::chrono::steady_clock::now());
    max_id = std::max(max_id, uid);
    sessions.emplace(uid, Placed{&w, &s});
  });

  std::size_t subscriptions = 0;
  store.scan("u", [&](std::string_view k, std::string_view v) {
    const auto uid = store::key_u64(k, 1);
    auto it = sessions.find(uid);
    auto r = store::decode_subscription(v);
    if (it == sessions.end() || !r) return cleanup.del(k);
    const std::string filter(k.substr(9));
    Session& s = *it->second.session;
    s.subscriptions()[filter] = SubscriptionRecord{r->options, r->subscription_id};
    it->second.worker->stats.subscriptions.add();
    const std::vector<SubscriptionChange> change{
        {filter, RouteEntry{{it->second.worker->sessions.worker(), uid}, r->options, r->subscription_id, true}, true}};
    for (auto& w : targets) w.routes.apply(change);
    ++subscriptions;
  });

  store.scan("i", [&](std::string_view k, std::string_view) {
    auto it = sessions.find(store::key_u64(k, 1));
    if (it == sessions.end() || k.size() != 11) return cleanup.del(k);
    const auto pid = static_cast<std::uint16_t>((static_cast<std::uint8_t>(k[9]) << 8) | static_cast<std::uint8_t>(k[10]));
    it->second.session->inbound_qos2().insert(pid);
  });

  // Queued and in-flight messages are most of a large store: threads read disjoint ranges of
  // sessions (no two touch one session; body reference counts are atomic).
  std::vector<std::uint64_t> uids;
  uids.reserve(sessions.size());
  for (const auto& [uid, placed] : sessions) uids.push_back(uid);
  std::sort(uids.begin(), uids.end());
  // Even a small store is read by several threads: the test suite's restarts then run this path
  // under ThreadSanitizer, and a thread costs little next to opening RocksDB.
  const std::size_t parts =
      std::clamp<std::size_t>(std::min<std::size_t>(uids.size(), std::thread::hardware_concurrency()), 1, 4);
  std::vector<QueueScan> scans(parts);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < parts; ++i) {
    // Part i: the queues of sessions [uids[i*n/parts], uids[(i+1)*n/parts]); the first part also
    // takes orphans below the first session, the last everything above.
    const std::string from = i == 0 ? std::string("q") : store::queue_prefix(uids[i * uids.size() / parts]);
    const std::string to = i + 1 == parts ? store::Store::prefix_end("q")
                                          : store::queue_prefix(uids[(i + 1) * uids.size() / parts]);
    auto scan = [&store, &sessions, &bodies, &out = scans[i], from, to] {
      out = scan_queues(store, from, to, sessions, bodies);
    };
    if (i + 1 == parts) {
      scan();
    } else {
      threads.emplace_back(scan);
    }
  }
  for (auto& t : threads) t.join();
  std::size_t queued = 0;
  for (auto& part : scans) {
    queued += part.queued;
    max_id = std::max(max_id, part.max_id);
    for (const auto& k : part.orphans) cleanup.del(k);
  }

  for (auto& [id, m] : bodies) {
    if (m->store_refs.load(std::memory_order_relaxed) == 0) cleanup.del(store::body_key(id));
  }
  for (auto& w : targets) {
    w.sessions.raise_id_floor(max_id);
    w.writer.raise_id_floor(max_id);
  }
  for (auto& [uid, placed] : sessions) {
    placed.worker->sessions.watch(*placed.session);
    // The memory budget counts restored queues as Delivery counts queued messages.
    placed.session->for_each_queued([&memory = placed.worker->memory](const OutboundMessage& m) {
      memory.session_queues += queued_cost(m.message->topic().size(), m.message->payload().size());
    });
  }
  const auto cleaned = cleanup.count();
  if (const auto status = store.commit(cleanup); !status.ok()) {
    throw store::StoreError("cannot clean up the store in " + store.dir() + ": " + status.message());
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  logger("store")->info("recovered {} sessions, {} subscriptions, {} queued or in-flight messages, {} retained in {} ms{}",
                        sessions.size(), subscriptions, queued, retained, ms,
                        cleaned ? fmt::format(" ({} orphaned records removed)", cleaned) : std::string());
}

}  // namespace hermod::broker
