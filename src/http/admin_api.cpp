#include "http/admin_api.hpp"

#include <charconv>
#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>

#include "base/log.hpp"
#include "broker/auth/crypto.hpp"
#include "broker/broker.hpp"
#include "mqtt/utf8.hpp"
#include "net/percent_encoding.hpp"

namespace hermod::http {

namespace {

using nlohmann::json;
using namespace broker::admin;

constexpr std::size_t kMaxLimit = 1000;
constexpr const char* kRedacted = "<redacted>";

Response json_response(const json& body, unsigned status = 200) {
  Response r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// A thrown bad input: the handler's wrapper answers 400 with its text.
struct BadRequest {
  std::string message;
};

PageQuery page_of(const Request& req) {
  PageQuery q;
  if (const auto v = req.param("limit")) {
    std::size_t n = 0;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec != std::errc{} || end != v->data() + v->size() || n < 1 || n > kMaxLimit) {
      throw BadRequest{"limit must be an integer from 1 to " + std::to_string(kMaxLimit)};
    }
    q.limit = n;
  }
  if (const auto v = req.param("after")) q.after = std::string(*v);
  return q;
}

// The path after `prefix`, percent-decoded; 400 if empty or malformed.
std::string rest_of(const Request& req, std::string_view prefix, const char* what) {
  auto decoded = net::percent_decode(std::string_view(req.path).substr(prefix.size()));
  if (!decoded) throw BadRequest{std::string("malformed percent-encoding in the ") + what};
  if (decoded->empty()) throw BadRequest{std::string("the path needs a ") + what};
  return std::move(*decoded);
}

json payload_json(const std::string& payload, json& into) {
  if (mqtt::is_valid_mqtt_utf8(payload)) {
    into["payload"] = payload;
    into["encoding"] = "utf8";
  } else {
    into["payload"] = broker::auth::base64_encode(payload);
    into["encoding"] = "base64";
  }
  into["size"] = payload.size();
  return into;
}

json to_json(const SubscriptionInfo& s) {
  return json{{"client_id", s.client_id},
              {"filter", s.filter},
              {"qos", s.qos},
              {"no_local", s.no_local},
              {"retain_as_published", s.retain_as_published},
              {"retain_handling", s.retain_handling},
              {"subscription_id", s.subscription_id}};
}

json to_json(const ClientInfo& c) {
  json j{{"client_id", c.client_id},
         {"username", c.username ? json(*c.username) : json(nullptr)},
         {"address", c.address},
         {"listener", c.listener},
         {"transport", c.transport},
         {"protocol", c.protocol},
         {"keepalive", c.keepalive},
         {"connected_since_ms", c.connected_since_ms},
         {"clean_start", c.clean_start},
         {"session_expiry", c.session_expiry},
         {"inflight", c.inflight},
         {"queued", c.queued},
         {"subscriptions", c.subscriptions}};
  return j;
}

json to_json(const SessionInfo& s) {
  return json{{"client_id", s.client_id},       {"online", s.online},     {"persistent", s.persistent},
              {"expiry_interval", s.expiry_interval}, {"queued", s.queued}, {"inflight", s.inflight},
              {"subscriptions", s.subscriptions}};
}

json to_json(const RetainedInfo& r) {
  json j{{"topic", r.topic}, {"qos", r.qos}};
  payload_json(r.payload, j);
  return j;
}

template <typename T>
json page_json(const Page<T>& p) {
  json items = json::array();
  for (const auto& i : p.items) items.push_back(to_json(i));
  return json{{"items", std::move(items)}, {"next", p.next ? json(*p.next) : json(nullptr)}};
}

// The payload of a PUBLISH or PUT body: `payload` in `encoding` (utf8 by default, or base64).
std::string body_payload(const json& body) {
  if (!body.contains("payload") || !body["payload"].is_string()) throw BadRequest{"payload must be a string"};
  const std::string encoding = body.value("encoding", std::string("utf8"));
  const auto& text = body["payload"].get_ref<const std::string&>();
  if (encoding == "utf8") return text;
  if (encoding == "base64") {
    auto bytes = broker::auth::base64_decode(text);
    if (!bytes) throw BadRequest{"payload is not valid base64"};
    return std::move(*bytes);
  }
  throw BadRequest{"encoding must be utf8 or base64"};
}

std::uint8_t body_qos(const json& body) {
  if (!body.contains("qos")) return 0;
  const json& q = body["qos"];
  // Compared as the JSON number it is: get<int>() would wrap 4294967296 round to 0.
  if (!q.is_number_unsigned() || q.get<std::uint64_t>() > 2) throw BadRequest{"qos must be 0, 1 or 2"};
  return static_cast<std::uint8_t>(q.get<std::uint64_t>());
}

json parse_body(const Request& req) {
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) throw BadRequest{"the body must be a JSON object"};
  return body;
}

bool flag(const Request& req, std::string_view name) {
  const auto v = req.param(name);
  if (!v) return false;
  if (*v == "true" || *v == "1") return true;
  if (*v == "false" || *v == "0") return false;
  throw BadRequest{std::string(name) + " must be true or false"};
}

void audit(const Request& req, std::string_view what) {
  logger("admin")->info("{} (token \"{}\") {} {}: {}", req.remote, req.caller, req.method, req.path, what);
}

json tls_json(const net::TlsSettings& t) {
  static constexpr const char* kModes[] = {"off", "optional", "required"};
  return json{{"cert_file", t.cert_file},
              {"key_file", t.key_file},
              {"key_password_file", t.key_password_file.empty() ? "" : kRedacted},
              {"ca_file", t.ca_file},
              {"ca_dir", t.ca_dir},
              {"crl_file", t.crl_file},
              {"client_certificates", kModes[static_cast<int>(t.client_certificates)]},
              {"tls_min_version", t.min_version},
              {"ciphers", t.ciphers},
              {"ciphersuites", t.ciphersuites}};
}

std::string ranges_text(const net::AddressRange& r) { return r.to_string(); }

json config_json(const broker::Config& c) {
  json listeners = json::array();
  for (const auto& l : c.listeners) {
    json j{{"bind", l.bind}, {"port", l.port}, {"transport", l.transport}, {"max_connections", l.max_connections},
           {"proxy_protocol", l.proxy_protocol}};
    if (l.is_tls()) j["tls"] = tls_json(l.tls);
    if (l.is_ws()) {
      j["ws_path"] = l.ws_path;
      j["ws_origins"] = l.ws_origins;
    }
    for (const auto& [key, list] : {std::pair{"allow", &l.allow}, std::pair{"deny", &l.deny},
                                    std::pair{"trusted_proxies", &l.trusted_proxies}}) {
      json a = json::array();
      for (const auto& r : *list) a.push_back(ranges_text(r));
      j[key] = std::move(a);
    }
    listeners.push_back(std::move(j));
  }
  const auto& m = c.limits;
  json tokens = json::object();
  for (const auto& [name, token] : c.http.admin_tokens) tokens[name] = kRedacted;
  return json{
      {"source", c.source},
      {"broker",
       {{"workers", c.resolved_workers()},
        {"log_level", c.log_level},
        {"log_format", c.log_format},
        {"sys_interval", c.sys_interval},
        {"file_check_interval", c.file_check_interval}}},
      {"listeners", std::move(listeners)},
      {"limits",
       {{"max_packet_size", m.max_packet_size},
        {"max_connections", m.max_connections},
        {"max_inflight", m.max_inflight},
        {"max_queued_messages", m.max_queued_messages},
        {"max_queued_bytes", m.max_queued_bytes},
        {"connect_timeout", m.connect_timeout},
        {"max_tls_handshakes", m.max_tls_handshakes},
        {"queue_qos0", m.queue_qos0},
        {"max_write_buffer", m.max_write_buffer},
        {"receive_maximum", m.receive_maximum},
        {"topic_alias_maximum", m.topic_alias_maximum},
        {"max_session_expiry", m.max_session_expiry},
        {"max_keepalive", m.max_keepalive},
        {"max_qos", m.max_qos},
        {"message_rate", m.message_rate},
        {"byte_rate", m.byte_rate},
        {"max_subscriptions", m.max_subscriptions},
        {"max_topic_length", m.max_topic_length},
        {"max_topic_depth", m.max_topic_depth},
        {"max_connections_per_address", m.max_connections_per_address},
        {"address_prefix_v4", m.address_prefix_v4},
        {"address_prefix_v6", m.address_prefix_v6},
        {"connect_rate_per_address", m.connect_rate_per_address},
        {"login_failure_delay_ms", m.login_failure_delay_ms},
        {"login_failure_delay_max_ms", m.login_failure_delay_max_ms},
        {"login_failure_quiet_period", m.login_failure_quiet_period},
        {"flapping_connects", m.flapping_connects},
        {"flapping_window", m.flapping_window},
        {"flapping_ban", m.flapping_ban},
        {"memory_budget", m.memory_budget}}},
      {"features",
       {{"retain_available", c.features.retain_available},
        {"wildcard_subscriptions", c.features.wildcard_subscriptions},
        {"subscription_identifiers", c.features.subscription_identifiers},
        {"shared_subscriptions", c.features.shared_subscriptions}}},
      {"auth",
       {{"password_file", c.auth.password_file},
        {"allow_anonymous", c.auth.allow_anonymous},
        {"acl_file", c.auth.acl_file},
        {"disconnect_removed_users", c.auth.disconnect_removed_users}}},
      {"store", {{"path", c.data_dir}, {"mode", c.store_mode}, {"ack_on_delivery_ms", c.ack_on_delivery_ms}}},
      {"http",
       {{"bind", c.http.bind},
        {"port", c.http.port},
        {"tls", c.http.tls},
        {"admin_tokens", std::move(tokens)},
        {"metrics_auth", c.http.metrics_auth},
        {"max_connections", c.http.max_connections},
        {"max_body_size", c.http.max_body_size},
        {"request_timeout", c.http.request_timeout},
        {"idle_timeout", c.http.idle_timeout}}},
  };
}

// Wraps a handler: BadRequest and JSON errors become a 400 with their reason.
Handler checked(std::function<void(const Request&, Reply&)> f) {
  return [f = std::move(f)](const Request& req, Reply reply) {
    try {
      f(req, reply);
    } catch (const BadRequest& e) {
      reply(error_response("bad_request", e.message));
    } catch (const json::exception& e) {
      reply(error_response("bad_request", std::string("bad JSON: ") + e.what()));
    }
  };
}

json disconnected_json(const std::string& id, const Disconnected& d) {
  return json{{"client_id", id}, {"disconnected", d.disconnected}, {"session_dropped", d.session_dropped}};
}

}  // namespace

void add_admin_routes(Router& router, broker::Broker& broker, Admin& admin, std::function<std::vector<std::string>()> reload) {
  router.add("GET", "/healthz", Access::open, [](const Request&, Reply reply) {
    reply(json_response(json{{"status", "ok"}}));
  });
  router.add("GET", "/readyz", Access::open, [&broker](const Request&, Reply reply) {
    const bool ready = broker.ready();
    // Both are true together: start() returns once every listener is open, after recovery.
    reply(json_response(json{{"ready", ready}, {"listeners", ready}, {"store", ready}}, ready ? 200 : 503));
  });

  router.add("GET", "/api/v1/overview", Access::admin, [&broker](const Request&, Reply reply) {
    const auto t = broker.totals();
    const auto now = std::chrono::system_clock::now();
    const auto uptime = broker.services().clock.now() - broker.started_at();
    json listeners = json::array();
    const auto& ports = broker.bound_ports();
    for (std::size_t i = 0; i < broker.config().listeners.size(); ++i) {
      const auto& l = broker.config().listeners[i];
      json j{{"name", l.name()}, {"bind", l.bind}, {"port", i < ports.size() ? ports[i] : l.port},
             {"transport", l.transport}};
      if (l.is_ws()) j["path"] = l.ws_path;
      listeners.push_back(std::move(j));
    }
    reply(json_response(json{
        {"version", HERMOD_VERSION},
        {"time_ms", std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count()},
        {"uptime_seconds", std::chrono::duration<double>(uptime).count()},
        {"workers", broker.worker_count()},
        {"connections", t.clients_connected},
        {"sessions", t.sessions},
        {"subscriptions", t.subscriptions},
        {"retained", t.retained},
        {"messages_received", t.messages_received},
        {"messages_sent", t.messages_sent},
        {"bytes_received", t.bytes_received},
        {"bytes_sent", t.bytes_sent},
        {"messages_dropped", t.messages_dropped},
        {"memory_used", t.memory_used},
        {"memory_budget", t.memory_budget},
        {"listeners", std::move(listeners)},
    }));
  });

  router.add("GET", "/api/v1/clients", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    auto page = page_of(req);
    std::string search(req.param("search").value_or(""));
    admin.clients(std::move(page), std::move(search),
                  [r = share(reply)](Page<ClientInfo> p) { (*r)(json_response(page_json(p))); });
  }));
  router.add("GET", "/api/v1/clients/*", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    auto id = rest_of(req, "/api/v1/clients/", "client id");
    admin.client(id, [r = share(reply), id](std::optional<ClientInfo> c) {
      if (!c) return (*r)(error_response("not_found", "no client \"" + id + "\" is connected"));
      json j = to_json(*c);
      json filters = json::array();
      for (const auto& s : c->filters) filters.push_back(to_json(s));
      j["filters"] = std::move(filters);
      (*r)(json_response(j));
    });
  }));
  router.add("DELETE", "/api/v1/clients/*", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    auto id = rest_of(req, "/api/v1/clients/", "client id");
    const bool drop = flag(req, "drop_session");
    audit(req, drop ? "disconnect \"" + id + "\" and end its session" : "disconnect \"" + id + "\"");
    admin.disconnect(id, drop, [r = share(reply), id](Disconnected d) {
      if (!d.found || (!d.disconnected && !d.session_dropped)) {
        return (*r)(error_response("not_found", "no client \"" + id + "\" is connected"));
      }
      (*r)(json_response(disconnected_json(id, d)));
    });
  }));

  router.add("GET", "/api/v1/sessions", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    auto page = page_of(req);
    SessionFilter filter = SessionFilter::all;
    if (const auto s = req.param("state")) {
      if (*s == "online") {
        filter = SessionFilter::online;
      } else if (*s == "offline") {
        filter = SessionFilter::offline;
      } else if (*s != "all") {
        throw BadRequest{"state must be all, online or offline"};
      }
    }
    admin.sessions(std::move(page), filter, [r = share(reply)](Page<SessionInfo> p) { (*r)(json_response(page_json(p))); });
  }));
  router.add("DELETE", "/api/v1/sessions/*", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    auto id = rest_of(req, "/api/v1/sessions/", "client id");
    audit(req, "end the session of \"" + id + "\"");
    admin.disconnect(id, true, [r = share(reply), id](Disconnected d) {
      if (!d.found) return (*r)(error_response("not_found", "no session of \"" + id + "\""));
      (*r)(json_response(disconnected_json(id, d)));
    });
  }));

  router.add("GET", "/api/v1/subscriptions", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    auto page = page_of(req);
    std::optional<std::string> client;
    if (const auto c = req.param("client_id")) client = std::string(*c);
    admin.subscriptions(std::move(page), std::move(client),
                        [r = share(reply)](Page<SubscriptionInfo> p) { (*r)(json_response(page_json(p))); });
  }));

  router.add("GET", "/api/v1/retained", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    auto page = page_of(req);
    const std::string filter(req.param("filter").value_or("#"));
    if (const auto why = Admin::check_topic_filter(filter); !why.empty()) throw BadRequest{"filter: " + why};
    reply(json_response(page_json(admin.retained(std::move(page), filter))));
  }));
  router.add("GET", "/api/v1/retained/*", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    const auto topic = rest_of(req, "/api/v1/retained/", "topic");
    if (const auto why = Admin::check_topic_name(topic); !why.empty()) throw BadRequest{"topic: " + why};
    const auto m = admin.retained_one(topic);
    if (!m) return reply(error_response("not_found", "no retained message on \"" + topic + "\""));
    reply(json_response(to_json(*m)));
  }));
  router.add("PUT", "/api/v1/retained/*", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    const auto topic = rest_of(req, "/api/v1/retained/", "topic");
    if (const auto why = Admin::check_topic_name(topic); !why.empty()) throw BadRequest{"topic: " + why};
    const json body = parse_body(req);
    PublishRequest p{topic, body_payload(body), body_qos(body), true};
    if (p.payload.empty()) throw BadRequest{"an empty payload clears the message: use DELETE"};
    audit(req, "set the retained message of \"" + topic + "\" (" + std::to_string(p.payload.size()) + " bytes)");
    admin.publish(std::move(p), [r = share(reply), topic] { (*r)(json_response(json{{"topic", topic}, {"retain", true}})); });
  }));
  router.add("DELETE", "/api/v1/retained/*", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    const auto topic = rest_of(req, "/api/v1/retained/", "topic");
    if (const auto why = Admin::check_topic_name(topic); !why.empty()) throw BadRequest{"topic: " + why};
    if (!admin.retained_one(topic)) return reply(error_response("not_found", "no retained message on \"" + topic + "\""));
    audit(req, "clear the retained message of \"" + topic + "\"");
    admin.publish(PublishRequest{topic, "", 0, true},
                  [r = share(reply), topic] { (*r)(json_response(json{{"topic", topic}, {"retain", true}})); });
  }));

  router.add("POST", "/api/v1/publish", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    const json body = parse_body(req);
    if (!body.contains("topic") || !body["topic"].is_string()) throw BadRequest{"topic must be a string"};
    PublishRequest p;
    p.topic = body["topic"].get<std::string>();
    if (const auto why = Admin::check_topic_name(p.topic); !why.empty()) throw BadRequest{"topic: " + why};
    p.payload = body_payload(body);
    p.qos = body_qos(body);
    if (body.contains("retain")) {
      if (!body["retain"].is_boolean()) throw BadRequest{"retain must be true or false"};
      p.retain = body["retain"].get<bool>();
    }
    audit(req, "publish to \"" + p.topic + "\" (" + std::to_string(p.payload.size()) + " bytes, QoS " +
                   std::to_string(p.qos) + (p.retain ? ", retained)" : ")"));
    const auto topic = p.topic;
    const bool retain = p.retain;
    admin.publish(std::move(p),
                  [r = share(reply), topic, retain] { (*r)(json_response(json{{"topic", topic}, {"retain", retain}})); });
  }));

  router.add("GET", "/api/v1/bans", Access::admin, [&admin](const Request&, Reply reply) {
    admin.bans([r = share(reply)](std::vector<BanInfo> bans) {
      json items = json::array();
      for (const auto& b : bans) {
        json j{{"kind", b.kind == BanInfo::Kind::client ? "client" : "address"},
               {"key", b.key},
               {"reason", b.kind == BanInfo::Kind::client ? "flapping" : "failed_logins"},
               {"seconds_left", b.seconds_left}};
        if (b.kind == BanInfo::Kind::address) j["delay_ms"] = b.delay_ms;
        items.push_back(std::move(j));
      }
      (*r)(json_response(json{{"items", std::move(items)}}));
    });
  });
  router.add("DELETE", "/api/v1/bans/*", Access::admin, checked([&admin](const Request& req, Reply& reply) {
    const std::string_view rest = std::string_view(req.path).substr(std::string_view("/api/v1/bans/").size());
    const auto slash = rest.find('/');
    const auto kind_text = rest.substr(0, slash);
    if (slash == std::string_view::npos || (kind_text != "client" && kind_text != "address")) {
      throw BadRequest{"the path is /api/v1/bans/client/ID or /api/v1/bans/address/GROUP"};
    }
    auto key = net::percent_decode(rest.substr(slash + 1));
    if (!key || key->empty()) throw BadRequest{"the ban's key is empty or badly percent-encoded"};
    const auto kind = kind_text == "client" ? BanInfo::Kind::client : BanInfo::Kind::address;
    audit(req, "lift the " + std::string(kind_text) + " ban of \"" + *key + "\"");
    admin.lift_ban(kind, *key, [r = share(reply), kind_text = std::string(kind_text), key = *key](bool lifted) {
      if (!lifted) return (*r)(error_response("not_found", "no " + kind_text + " ban of \"" + key + "\""));
      (*r)(json_response(json{{"kind", kind_text}, {"key", key}, {"lifted", true}}));
    });
  }));

  router.add("POST", "/api/v1/reload", Access::admin, [reload = std::move(reload)](const Request& req, Reply reply) {
    audit(req, "reload");
    const auto problems = reload();
    // Answered 200 either way: what did not load keeps its previous rules in force.
    reply(json_response(json{{"reloaded", problems.empty()}, {"errors", problems}}));
  });
  router.add("GET", "/api/v1/config", Access::admin, [&broker](const Request&, Reply reply) {
    const auto policy = broker.policy_snapshot();
    reply(json_response(config_json(*policy->config)));
  });
}

}  // namespace hermod::http
