// hermod-cli pub: mosquitto_pub's behaviour on the async client. One message (-m, -f, -n, -s),
// or one per line of stdin (-l) read on a helper thread and published as it comes, at most
// kLinesInFlight unacknowledged at once so a fast producer waits instead of filling the buffer.
// The connection is made first; a failure to connect ends the run with mosquitto's exit codes.
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <semaphore>
#include <sstream>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "commands.hpp"
#include "common.hpp"
#include "progress.hpp"

namespace hermod::cli {

namespace {

namespace asio = boost::asio;

constexpr std::ptrdiff_t kLinesInFlight = 1024;

struct PubArgs {
  std::string topic;
  std::optional<std::string> message;
  std::optional<std::string> file;
  bool lines = false;
  bool null_message = false;
  bool stdin_file = false;
  bool retain = false;
  bool progress = false;
};

// Lines from stdin, handed to the io_context thread. The reader may outlive the run (blocked in a
// read when the broker connection fails), so what it shares lives in a shared_ptr and `closed`
// stops it from posting to an io_context that is gone.
struct LineFeed {
  std::mutex mutex;
  bool closed = false;
  std::counting_semaphore<kLinesInFlight> slots{kLinesInFlight};
};

class PubRun {
 public:
  PubRun(client::ClientOptions options, client::TransportFactory factory, const CommonArgs& common, PubArgs args)
      : common_(common),
        args_(std::move(args)),
        signals_(io_, SIGINT, SIGTERM),
        progress_(io_, "pub", args_.progress, common.quiet) {
    client_ = client::Client::create(io_.get_executor(), std::move(options), std::move(factory));
    if (common_.debug) install_debug_trace(*client_);
  }

  int run(std::optional<std::string> single_payload) {
    signals_.async_wait([this](const boost::system::error_code& ec, int) {
      if (!ec) finish();
    });
    progress_.start();
    client_->async_connect([this, single_payload](std::error_code ec, const client::ConnectResult& result) {
      if (ec) {
        rc_ = report_connect_failure(ec, client_->options().version, common_.quiet, result.detail);
        signals_.cancel();
        progress_.stop();
        io_.stop();
        return;
      }
      if (single_payload) {
        publish(*single_payload);
        input_done_ = true;
      } else {
        start_line_reader();
      }
    });
    io_.run();
    if (feed_) {
      std::lock_guard lock(feed_->mutex);
      feed_->closed = true;
      feed_->slots.release(kLinesInFlight / 2);  // unblock a reader waiting for a slot
    }
    if (reader_.joinable()) reader_.detach();  // it may be blocked reading stdin; it stops itself
    return rc_;
  }

 private:
  void publish(std::string payload) {
    client::Message m;
    m.topic = args_.topic;
    m.payload = std::move(payload);
    m.qos = static_cast<std::uint8_t>(common_.qos);
    m.retain = args_.retain;
    m.props = common_.props.publish;
    ++outstanding_;
    client_->async_publish(std::move(m), [this](std::error_code ec, const client::PublishResult& r) {
      --outstanding_;
      if (feed_) feed_->slots.release();
      if (ec) {
        if (!common_.quiet) std::fprintf(stderr, "Warning: Publish %u failed: %s.\n", r.packet_id, ec.message().c_str());
        rc_ = 1;
      } else {
        progress_.count();
      }
      maybe_finish();
    });
  }

  void maybe_finish() {
    if (input_done_ && outstanding_ == 0) finish();
  }

  void finish() {
    if (finishing_) return;
    finishing_ = true;
    client_->async_disconnect(
        [this](std::error_code) {
          signals_.cancel();
          progress_.stop();
          io_.stop();
        },
        mqtt::ReasonCode::success, common_.props.disconnect);
  }

  void start_line_reader() {
    feed_ = std::make_shared<LineFeed>();
    reader_ = std::thread([feed = feed_, ex = io_.get_executor(), this] {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line.empty()) continue;  // as mosquitto_pub -l: blank lines are not sent
        feed->slots.acquire();
        std::lock_guard lock(feed->mutex);
        if (feed->closed) return;
        asio::post(ex, [this, line = std::move(line)]() mutable { publish(std::move(line)); });
      }
      std::lock_guard lock(feed->mutex);
      if (feed->closed) return;
      asio::post(ex, [this] {
        input_done_ = true;
        maybe_finish();
      });
    });
  }

  const CommonArgs& common_;
  PubArgs args_;
  asio::io_context io_;
  asio::signal_set signals_;
  ProgressLine progress_;
  std::shared_ptr<client::Client> client_;
  std::shared_ptr<LineFeed> feed_;
  std::thread reader_;
  std::size_t outstanding_ = 0;
  bool input_done_ = false;
  bool finishing_ = false;
  int rc_ = 0;
};

std::string read_all(std::istream& in) {
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

int run_pub(std::vector<std::string> args) {
  CommonArgs common;
  PubArgs pub;
  CLI::App app{"Publish MQTT messages; flags as mosquitto_pub.", "hermod-cli pub"};
  app.set_help_flag("--help", "print this help and exit");
  add_common_options(app, common,
                     "mqtt(s): the path is the topic (as mosquitto_pub -L), instead of -t; ws(s): the path is the "
                     "WebSocket path (default /mqtt) and the topic comes from -t.");
  app.add_option("-t,--topic", pub.topic, "topic to publish to (or the path of an mqtt(s):// -L URL)");
  app.add_option("-m,--message", pub.message, "message payload");
  app.add_option("-f,--file", pub.file, "send the contents of a file as the message");
  app.add_flag("-l,--stdin-line", pub.lines, "send each line of stdin as a message (blank lines are skipped)");
  app.add_flag("-n,--null-message", pub.null_message, "send an empty message");
  app.add_flag("-s,--stdin-file", pub.stdin_file, "send all of stdin as one message");
  app.add_flag("-r,--retain", pub.retain, "retain the message");
  app.add_flag("--progress", pub.progress, "progress line on stderr even when it is not a terminal");

  client::ClientOptions options;
  client::TransportFactory factory;
  try {
    extract_properties(args, common.props);
    parse_args(app, std::move(args));
    const int sources = (pub.message ? 1 : 0) + (pub.file ? 1 : 0) + pub.lines + pub.null_message + pub.stdin_file;
    if (sources != 1) throw std::invalid_argument("give exactly one of -m, -f, -l, -n, -s");
    std::optional<std::string> url_topic;
    options = make_client_options(common, "pub", &url_topic);
    if (url_topic && !pub.topic.empty()) throw std::invalid_argument("give the topic with -t or in the -L URL, not both");
    if (url_topic) pub.topic = *url_topic;
    if (pub.topic.empty()) throw std::invalid_argument("a topic is needed (-t, or the path of an mqtt:// -L URL)");
    factory = make_factory(options);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "Error: %s\nUse 'hermod-cli pub --help' to see usage.\n", e.what());
    return 1;
  }

  std::optional<std::string> payload;
  if (pub.message) payload = *pub.message;
  if (pub.null_message) payload = std::string();
  if (pub.stdin_file) payload = read_all(std::cin);
  if (pub.file) {
    std::ifstream in(*pub.file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "Error: cannot read file '%s'\n", pub.file->c_str());
      return 1;
    }
    payload = read_all(in);
  }
  PubRun run(std::move(options), std::move(factory), common, pub);
  return run.run(payload);
}

}  // namespace hermod::cli
