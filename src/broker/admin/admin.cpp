#include "broker/admin/admin.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "broker/broker.hpp"
#include "mqtt/topic.hpp"
#include "mqtt/utf8.hpp"

namespace hermod::broker::admin {

namespace {

// Runs `per_worker(worker)` on every worker and `done(parts)` once, on the thread of the last
// worker to answer, with each worker's part in worker order.
template <typename Part, typename PerWorker, typename Done>
void gather(Broker& broker, PerWorker per_worker, Done done) {
  struct State {
    State(std::uint32_t n, PerWorker p, Done d) : parts(n), remaining(n), per_worker(std::move(p)), done(std::move(d)) {}
    std::mutex mutex;
    std::vector<Part> parts;
    std::atomic<std::uint32_t> remaining;
    PerWorker per_worker;
    Done done;
  };
  const std::uint32_t n = broker.worker_count();
  auto state = std::make_shared<State>(n, std::move(per_worker), std::move(done));
  for (std::uint32_t w = 0; w < n; ++w) {
    Worker& worker = broker.worker(w);
    worker.post([state, &worker, w] {
      Part part = state->per_worker(worker);
      {
        std::lock_guard lock(state->mutex);
        state->parts[w] = std::move(part);
      }
      if (state->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) state->done(std::move(state->parts));
    });
  }
}

// Keeps the `limit + 1` smallest keys (the one past the page says another page follows).
template <typename T, typename Key>
void keep_first(std::vector<T>& items, std::size_t limit, Key key) {
  const auto less = [&](const T& a, const T& b) { return key(a) < key(b); };
  if (items.size() > limit + 1) {
    std::nth_element(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(limit), items.end(), less);
    items.resize(limit + 1);
  }
  std::sort(items.begin(), items.end(), less);
}

template <typename T, typename Key>
Page<T> merge(std::vector<std::vector<T>> parts, std::size_t limit, Key key) {
  Page<T> page;
  for (auto& p : parts) {
    for (auto& item : p) page.items.push_back(std::move(item));
  }
  keep_first(page.items, limit, key);
  if (page.items.size() > limit) {
    page.items.resize(limit);
    page.next = key(page.items.back());
  }
  return page;
}

const char* protocol_name(mqtt::ProtocolVersion v) {
  switch (v) {
    case mqtt::ProtocolVersion::v3_1: return "3.1";
    case mqtt::ProtocolVersion::v3_1_1: return "3.1.1";
    case mqtt::ProtocolVersion::v5: return "5.0";
  }
  return "?";
}

// The session's open connection, if it has one (the link attached to a session is a Connection).
Connection* connection_of(const Session& s) {
  auto* c = dynamic_cast<Connection*>(s.connection());
  return c && !c->closed() ? c : nullptr;
}

ClientInfo describe(const Session& s, const Connection& c) {
  ClientInfo i;
  i.client_id = s.client_id();
  if (const auto* id = s.identity(); id && id->user()) i.username = *id->user();
  i.address = c.remote();
  if (const auto* l = c.listener()) {
    i.listener = l->name();
    i.transport = l->transport;
  }
  i.protocol = protocol_name(c.version());
  i.keepalive = c.keep_alive();
  i.connected_since_ms = c.connected_since_ms();
  i.clean_start = c.clean_start();
  i.session_expiry = s.expiry_interval();
  i.inflight = s.inflight().size();
  i.queued = s.queue_size();
  i.subscriptions = s.subscriptions().size();
  return i;
}

SubscriptionInfo describe(const std::string& client_id, const std::string& filter, const SubscriptionRecord& r) {
  return SubscriptionInfo{client_id,
                          filter,
                          r.options.qos,
                          r.options.no_local,
                          r.options.retain_as_published,
                          r.options.retain_handling,
                          r.subscription_id};
}

bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

// The key of a subscription in its list: client id, then filter. A NUL never occurs in either
// (MQTT forbids U+0000 in strings [MQTT-1.5.4-2]), so it separates them and sorts right.
std::string subscription_key(const SubscriptionInfo& s) { return s.client_id + '\0' + s.filter; }

}  // namespace

void Admin::clients(PageQuery page, std::string search, std::function<void(Page<ClientInfo>)> done) {
  const auto limit = page.limit;
  gather<std::vector<ClientInfo>>(
      broker_,
      [page = std::move(page), search = std::move(search)](Worker& w) {
        std::vector<ClientInfo> out;
        w.sessions().for_each([&](Session& s) {
          if (s.client_id() <= page.after && !page.after.empty()) return;
          const Connection* c = connection_of(s);
          if (!c) return;
          ClientInfo info = describe(s, *c);
          if (!search.empty() && !contains(info.client_id, search) && !contains(info.address, search) &&
              !(info.username && contains(*info.username, search))) {
            return;
          }
          out.push_back(std::move(info));
          // Bounded as it grows: a worker with a million clients keeps a page's worth at a time.
          if (out.size() > 4 * (page.limit + 1)) keep_first(out, page.limit, [](const ClientInfo& i) { return i.client_id; });
        });
        keep_first(out, page.limit, [](const ClientInfo& i) { return i.client_id; });
        return out;
      },
      [limit, done = std::move(done)](std::vector<std::vector<ClientInfo>> parts) {
        done(merge(std::move(parts), limit, [](const ClientInfo& i) { return i.client_id; }));
      });
}

void Admin::client(std::string client_id, std::function<void(std::optional<ClientInfo>)> done) {
  Worker& w = broker_.worker(broker_.services().directory.home(client_id));
  w.post([&w, client_id = std::move(client_id), done = std::move(done)] {
    Session* s = w.sessions().find(client_id);
    const Connection* c = s ? connection_of(*s) : nullptr;
    if (!c) return done(std::nullopt);
    ClientInfo info = describe(*s, *c);
    for (const auto& [filter, record] : s->subscriptions()) info.filters.push_back(describe(client_id, filter, record));
    done(std::move(info));
  });
}

void Admin::disconnect(std::string client_id, bool drop_session, std::function<void(Disconnected)> done) {
  Worker& w = broker_.worker(broker_.services().directory.home(client_id));
  w.post([&w, client_id = std::move(client_id), drop_session, done = std::move(done)] {
    Disconnected d;
    Session* s = w.sessions().find(client_id);
    if (!s) return done(d);
    d.found = true;
    Connection* c = connection_of(*s);
    if (drop_session) {
      // A session that is no longer persistent ends when its connection closes (or now).
      s->set_expiry_interval(0);
      d.session_dropped = true;
    }
    if (c) {
      auto keep = std::static_pointer_cast<Connection>(c->shared_from_this());
      c->close(CloseReason::administrative);
      d.disconnected = true;
    } else if (drop_session) {
      w.delivery().end_session(*s);
    }
    done(d);
  });
}

void Admin::sessions(PageQuery page, SessionFilter filter, std::function<void(Page<SessionInfo>)> done) {
  const auto limit = page.limit;
  const auto key = [](const SessionInfo& i) { return i.client_id; };
  gather<std::vector<SessionInfo>>(
      broker_,
      [page = std::move(page), filter, key](Worker& w) {
        std::vector<SessionInfo> out;
        w.sessions().for_each([&](Session& s) {
          if (!page.after.empty() && s.client_id() <= page.after) return;
          const bool online = connection_of(s) != nullptr;
          if ((filter == SessionFilter::online && !online) || (filter == SessionFilter::offline && online)) return;
          out.push_back(SessionInfo{s.client_id(), online, s.persistent(), s.expiry_interval(), s.queue_size(),
                                    s.inflight().size(), s.subscriptions().size()});
          if (out.size() > 4 * (page.limit + 1)) keep_first(out, page.limit, key);
        });
        keep_first(out, page.limit, key);
        return out;
      },
      [limit, key, done = std::move(done)](std::vector<std::vector<SessionInfo>> parts) {
        done(merge(std::move(parts), limit, key));
      });
}

void Admin::session_counts(std::function<void(std::vector<SessionCounts>)> done) {
  gather<SessionCounts>(
      broker_,
      [](Worker& w) {
        SessionCounts n;
        w.sessions().for_each([&](Session& s) {
          ++(connection_of(s) ? n.online : n.offline);
          n.queued += s.queue_size();
          n.inflight += s.inflight().size();
        });
        return n;
      },
      std::move(done));
}

void Admin::subscriptions(PageQuery page, std::optional<std::string> client_id,
                          std::function<void(Page<SubscriptionInfo>)> done) {
  const auto limit = page.limit;
  gather<std::vector<SubscriptionInfo>>(
      broker_,
      [page = std::move(page), client_id = std::move(client_id)](Worker& w) {
        std::vector<SubscriptionInfo> out;
        auto add = [&](Session& s) {
          for (const auto& [filter, record] : s.subscriptions()) {
            auto info = describe(s.client_id(), filter, record);
            if (!page.after.empty() && subscription_key(info) <= page.after) continue;
            out.push_back(std::move(info));
            if (out.size() > 4 * (page.limit + 1)) keep_first(out, page.limit, subscription_key);
          }
        };
        if (client_id) {
          if (Session* s = w.sessions().find(*client_id)) add(*s);
        } else {
          w.sessions().for_each(add);
        }
        keep_first(out, page.limit, subscription_key);
        return out;
      },
      [limit, done = std::move(done)](std::vector<std::vector<SubscriptionInfo>> parts) {
        done(merge(std::move(parts), limit, subscription_key));
      });
}

Page<RetainedInfo> Admin::retained(PageQuery page, const std::string& filter) const {
  std::vector<MessagePtr> found;
  broker_.services().retained.match(filter, found);
  std::vector<RetainedInfo> items;
  for (const auto& m : found) {
    if (!page.after.empty() && m->topic() <= page.after) continue;
    items.push_back(RetainedInfo{std::string(m->topic()), std::string(m->payload()), m->qos});
  }
  return merge(std::vector<std::vector<RetainedInfo>>{std::move(items)}, page.limit,
               [](const RetainedInfo& r) { return r.topic; });
}

std::optional<RetainedInfo> Admin::retained_one(const std::string& topic) const {
  // A topic name is a filter that matches only itself (it has no wildcards).
  std::vector<MessagePtr> found;
  broker_.services().retained.match(topic, found);
  for (const auto& m : found) {
    if (m->topic() == topic) return RetainedInfo{topic, std::string(m->payload()), m->qos};
  }
  return std::nullopt;
}

void Admin::publish(PublishRequest p, std::function<void()> done) {
  Worker& w = broker_.worker(0);
  w.post([&w, p = std::move(p), done = std::move(done)] {
    auto m = make_message(p.topic, p.payload);
    m->qos = p.qos;
    m->retain = p.retain;
    w.delivery().publish(m);
    done();
  });
}

void Admin::bans(std::function<void(std::vector<BanInfo>)> done) {
  // Address groups are the broker's (one table behind a mutex); client ids are each worker's.
  std::vector<BanInfo> addresses;
  const auto rules = LoginDelayRules::of(broker_.policy_snapshot()->limits());
  for (const auto& d : broker_.logins().delayed(rules)) {
    addresses.push_back(BanInfo{BanInfo::Kind::address, d.group.to_string(),
                                std::chrono::duration<double>(d.left).count(),
                                static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(d.delay).count())});
  }
  gather<std::vector<BanInfo>>(
      broker_,
      [](Worker& w) {
        std::vector<BanInfo> out;
        for (const auto& [id, left] : w.flaps().banned()) {
          out.push_back(BanInfo{BanInfo::Kind::client, id, std::chrono::duration<double>(left).count(), 0});
        }
        return out;
      },
      [addresses = std::move(addresses), done = std::move(done)](std::vector<std::vector<BanInfo>> parts) mutable {
        std::vector<BanInfo> all;
        for (auto& p : parts) {
          for (auto& b : p) all.push_back(std::move(b));
        }
        std::sort(all.begin(), all.end(), [](const BanInfo& a, const BanInfo& b) { return a.key < b.key; });
        for (auto& a : addresses) all.push_back(std::move(a));
        done(std::move(all));
      });
}

void Admin::lift_ban(BanInfo::Kind kind, std::string key, std::function<void(bool)> done) {
  if (kind == BanInfo::Kind::address) return done(broker_.logins().forget(key));
  Worker& w = broker_.worker(broker_.services().directory.home(key));
  w.post([&w, key = std::move(key), done = std::move(done)] { done(w.flaps().lift(key)); });
}

namespace {
// What the broker refuses from clients in topics [MQTT-1.5.4-1] [MQTT-1.5.4-2] (and the control
// characters docs/conformance.md says it refuses), it refuses from the API too.
const char* text_refusal(const std::string& s) {
  const unsigned flags = mqtt::scan_text(s);
  if (flags & mqtt::kTextBadUtf8) return "not well-formed UTF-8, or holds U+0000";
  if (flags & mqtt::kTextControl) return "holds a control character (U+0001..U+001F, U+007F..U+009F)";
  return nullptr;
}
}  // namespace

std::string Admin::check_topic_name(const std::string& topic) {
  if (topic.size() > 65'535) return "a topic name has at most 65535 bytes";
  if (const char* why = text_refusal(topic)) return std::string("a topic name ") + why;
  if (!mqtt::is_valid_topic_name(topic)) return "not a valid MQTT topic name (empty, or a wildcard)";
  return {};
}

std::string Admin::check_topic_filter(const std::string& filter) {
  if (filter.size() > 65'535) return "a topic filter has at most 65535 bytes";
  if (const char* why = text_refusal(filter)) return std::string("a topic filter ") + why;
  if (!mqtt::is_valid_topic_filter(filter) || mqtt::parse_shared_filter(filter)) {
    return "not a valid MQTT topic filter ('#' only as the last level, '+' a whole level; no $share)";
  }
  return {};
}

}  // namespace hermod::broker::admin
