// hermod-cli sub: mosquitto_sub's behaviour on the async client. Subscribes once connected, prints
// each message on its own line (flushed, so pipes see it at once), stops after -C messages or -W
// seconds, and keeps going through broker restarts: the client reconnects, resends and
// re-subscribes by itself.
#include <csignal>
#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "commands.hpp"
#include "mqtt/topic.hpp"
#include "common.hpp"
#include "progress.hpp"
#include "output_format.hpp"

namespace hermod::cli {

namespace {

namespace asio = boost::asio;

constexpr int kTimedOutExitCode = 27;  // mosquitto_sub -W (MOSQ_ERR_TIMEOUT)

struct SubArgs {
  std::vector<std::string> topics;
  bool verbose = false;
  int count = 0;
  int timeout = 0;
  std::string format;
  bool no_eol = false;
  bool no_retained = false;
  bool no_local = false;
  bool retain_as_published = false;
  int retain_handling = 0;
  bool progress = false;
};

class SubRun {
 public:
  SubRun(client::ClientOptions options, client::TransportFactory factory, const CommonArgs& common, SubArgs args)
      : common_(common),
        args_(std::move(args)),
        signals_(io_, SIGINT, SIGTERM),
        timeout_(io_),
        progress_(io_, "sub", args_.progress, common.quiet) {
    client_ = client::Client::create(io_.get_executor(), std::move(options), std::move(factory));
    if (common_.debug) install_debug_trace(*client_);
    client_->set_message_handler([this](const client::Message& m) { on_message(m); });
    client_->set_disconnected_handler([this](const client::DisconnectInfo& d) {
      if (!common_.debug || common_.quiet) return;
      std::fprintf(stderr, "Connection lost: %s%s%s%s\n", d.ec.message().c_str(), d.detail.empty() ? "" : " (",
                   d.detail.c_str(), d.detail.empty() ? "" : ")");
    });
  }

  int run() {
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) finish();
    });
    progress_.start();
    client_->async_connect([this](std::error_code ec, const client::ConnectResult& result) {
      if (ec) {
        rc_ = report_connect_failure(ec, client_->options().version, common_.quiet, result.detail);
        stop_io();
        return;
      }
      subscribe();
      if (args_.timeout > 0) {
        // Like mosquitto_sub, the time limit counts from the connection.
        timeout_.expires_after(std::chrono::seconds(args_.timeout));
        timeout_.async_wait([this](const boost::system::error_code& ec) {
          if (ec || finishing_) return;
          if (!common_.quiet) std::fputs("Timed out\n", stderr);
          rc_ = kTimedOutExitCode;
          finish();
        });
      }
    });
    io_.run();
    return rc_;
  }

 private:
  void subscribe() {
    std::vector<mqtt::TopicSubscription> subs;
    for (const auto& t : args_.topics) {
      mqtt::TopicSubscription s;
      s.filter = t;
      s.options.qos = static_cast<std::uint8_t>(common_.qos);
      s.options.no_local = args_.no_local;
      s.options.retain_as_published = args_.retain_as_published;
      s.options.retain_handling = static_cast<std::uint8_t>(args_.retain_handling);
      subs.push_back(std::move(s));
    }
    client_->async_subscribe(std::move(subs), common_.props.subscribe,
                             [this](std::error_code ec, const client::SubscribeResult& r) {
                               if (ec) {
                                 if (ec == std::error_code(client::Errc::cancelled)) return;
                                 if (!common_.quiet) std::fprintf(stderr, "Error: subscribe failed: %s\n", ec.message().c_str());
                                 rc_ = 1;
                                 return finish();
                               }
                               on_suback(r);
                             });
  }

  void on_suback(const client::SubscribeResult& r) {
    bool any_granted = false;
    std::string codes;
    for (std::size_t i = 0; i < r.reasons.size(); ++i) {
      const auto rc = r.reasons[i];
      any_granted = any_granted || !mqtt::is_failure(rc);
      if (i) codes += ", ";
      codes += std::to_string(static_cast<int>(rc));
      if (mqtt::is_failure(rc) && !common_.quiet && i < args_.topics.size()) {
        std::fprintf(stderr, "Warning: subscription to '%s' denied: %s\n", args_.topics[i].c_str(),
                     std::string(mqtt::to_string(rc)).c_str());
      }
    }
    if (common_.debug) std::fprintf(stderr, "Subscribed: %s\n", codes.c_str());
    if (!any_granted) {
      if (!common_.quiet) std::fputs("All subscription requests were denied.\n", stderr);
      rc_ = 1;
      finish();
    }
  }

  void on_message(const client::Message& m) {
    if (finishing_) return;
    if (args_.no_retained && m.retain) return;
    std::string line;
    if (!args_.format.empty()) {
      line = format_message(args_.format, m, std::chrono::system_clock::now());
    } else if (args_.verbose) {
      line = m.topic + " " + m.payload;
    } else {
      line = m.payload;
    }
    if (!args_.no_eol) line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
    ++received_;
    progress_.count();
    if (args_.count > 0 && received_ >= args_.count) finish();
  }

  void finish() {
    if (finishing_) return;
    finishing_ = true;
    timeout_.cancel();
    client_->async_disconnect([this](std::error_code) { stop_io(); }, mqtt::ReasonCode::success,
                              common_.props.disconnect);
  }

  void stop_io() {
    signals_.cancel();
    timeout_.cancel();
    progress_.stop();
    io_.stop();
  }

  const CommonArgs& common_;
  SubArgs args_;
  asio::io_context io_;
  asio::signal_set signals_;
  asio::steady_timer timeout_;
  ProgressLine progress_;
  std::shared_ptr<client::Client> client_;
  int received_ = 0;
  bool finishing_ = false;
  int rc_ = 0;
};

}  // namespace

int run_sub(std::vector<std::string> args) {
  CommonArgs common;
  SubArgs sub;
  CLI::App app{"Subscribe to MQTT topics and print the messages; flags as mosquitto_sub.", "hermod-cli sub"};
  app.set_help_flag("--help", "print this help and exit");
  add_common_options(app, common,
                     "mqtt(s): the path is a topic filter (as mosquitto_sub -L), added to those of -t; ws(s): the "
                     "path is the WebSocket path (default /mqtt) and the filters come from -t.");
  app.add_option("-t,--topic", sub.topics, "topic filter to subscribe to (repeatable; or the path of an mqtt(s):// -L URL)");
  app.add_flag("-v,--verbose", sub.verbose, "print 'topic payload'");
  app.add_option("-C,--count", sub.count, "exit after this many messages")->check(CLI::PositiveNumber);
  app.add_option("-W,--timeout", sub.timeout, "exit with code 27 after this many seconds connected")
      ->check(CLI::PositiveNumber);
  app.add_option("-F,--format", sub.format, "output format (%t topic, %p payload, %q qos, %r retain, %j JSON…)");
  app.add_flag("--progress", sub.progress, "progress line on stderr even when it is not a terminal");
  app.add_flag("-N,--no-eol", sub.no_eol, "do not end each message with a newline");
  app.add_flag("-R,--no-stale-retained", sub.no_retained, "do not print retained messages");
  app.add_flag("--nl,--no-local", sub.no_local, "MQTT 5: do not receive our own publishes");
  app.add_flag("--rap,--retain-as-published", sub.retain_as_published, "MQTT 5: keep the retain flag as published");
  app.add_option("--rh,--retain-handling", sub.retain_handling,
                 "MQTT 5: 0 always send retained, 1 only for new subscriptions, 2 never")
      ->check(CLI::Range(0, 2));

  client::ClientOptions options;
  client::TransportFactory factory;
  try {
    extract_properties(args, common.props);
    parse_args(app, std::move(args));
    std::optional<std::string> url_topic;
    options = make_client_options(common, "sub", &url_topic);
    if (url_topic) sub.topics.push_back(*url_topic);
    if (sub.topics.empty()) throw std::invalid_argument("a topic filter is needed (-t, or the path of an mqtt:// -L URL)");
    factory = make_factory(options);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "Error: %s\nUse 'hermod-cli sub --help' to see usage.\n", e.what());
    return 1;
  }
  for (const auto& t : sub.topics) {
    if (!mqtt::is_valid_topic_filter(t)) {
      std::fprintf(stderr, "Error: invalid subscription topic '%s'\n", t.c_str());
      return 1;
    }
  }
  SubRun run(std::move(options), std::move(factory), common, std::move(sub));
  return run.run();
}

}  // namespace hermod::cli
