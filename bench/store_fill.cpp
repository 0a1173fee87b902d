// Writes a store as a broker with many offline persistent sessions would leave it, for the
// recovery-time benchmark (bench/run.sh): `--sessions` persistent sessions, each with one
// subscription and `--queued` QoS 1 messages waiting for it. Messages are fan-out shaped: each
// body is referenced by `--sharing` consecutive sessions (a group of devices subscribed to one
// topic), so 100,000 sessions x 100 messages with sharing 100 is 10,000,000 queue entries over
// 100,000 bodies. Records are written with the broker's own encoders (store/records.hpp), in
// `wal` mode batches; the broker then opens the directory as it would after a restart.
//
// Run: hermod_store_fill --dir DIR [--sessions N] [--queued M] [--sharing K] [--payload BYTES]
// Single-threaded.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "broker/store/records.hpp"
#include "broker/store/store.hpp"

namespace {

using namespace hermod::broker::store;

struct Options {
  std::string dir;
  std::uint64_t sessions = 100'000;
  std::uint64_t queued = 100;
  std::uint64_t sharing = 100;
  std::size_t payload = 64;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "hermod_store_fill: %s\nusage: hermod_store_fill --dir DIR [--sessions N] [--queued M] "
               "[--sharing K] [--payload BYTES]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) usage(("missing value after " + a).c_str());
    const char* v = argv[++i];
    if (a == "--dir") {
      o.dir = v;
    } else if (a == "--sessions") {
      o.sessions = std::strtoull(v, nullptr, 10);
    } else if (a == "--queued") {
      o.queued = std::strtoull(v, nullptr, 10);
    } else if (a == "--sharing") {
      o.sharing = std::strtoull(v, nullptr, 10);
    } else if (a == "--payload") {
      o.payload = std::strtoull(v, nullptr, 10);
    } else {
      usage(("unknown option " + a).c_str());
    }
  }
  if (o.dir.empty()) usage("--dir is required");
  if (o.sessions == 0 || o.sharing == 0) usage("--sessions and --sharing must be at least 1");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const auto started = std::chrono::steady_clock::now();
  Store store(o.dir, Mode::wal);
  Batch batch;
  auto commit_if_full = [&](bool force) {
    if (batch.count() < 200'000 && !(force && !batch.empty())) return;
    if (const auto status = store.commit(batch); !status.ok()) {
      std::fprintf(stderr, "hermod_store_fill: commit failed: %s\n", status.message().c_str());
      std::exit(1);
    }
  };

  // Ids: sessions 1..S, bodies after them, queue sequence numbers after those (the broker takes
  // its next id above the largest it finds, as after any restart).
  const std::uint64_t groups = (o.sessions + o.sharing - 1) / o.sharing;
  const std::uint64_t first_body = o.sessions + 1;
  std::uint64_t seq = first_body + groups * o.queued;
  const std::string filler(o.payload, 'x');
  std::uint64_t bodies = 0, entries = 0;

  for (std::uint64_t g = 0; g < groups; ++g) {
    const std::string topic = "fleet/group" + std::to_string(g) + "/cmd";
    for (std::uint64_t k = 0; k < o.queued; ++k) {
      BodyRecord b;
      b.topic = topic;
      b.payload = filler;
      b.qos = 1;
      batch.put(body_key(first_body + g * o.queued + k), encode(b));
      ++bodies;
    }
    const std::uint64_t end = std::min(o.sessions, (g + 1) * o.sharing);
    for (std::uint64_t uid = g * o.sharing + 1; uid <= end; ++uid) {
      SessionRecord s;
      s.client_id = "device-" + std::to_string(uid);
      s.expiry_interval = 0xFFFFFFFF;
      s.offline_since_ms = 0;
      batch.put(session_key(uid), encode(s));
      SubscriptionRecordValue sub;
      sub.options.qos = 1;
      batch.put(subscription_key(uid, topic), encode(sub));
      for (std::uint64_t k = 0; k < o.queued; ++k) {
        QueueRecord q;
        q.body_id = first_body + g * o.queued + k;
        q.qos = 1;
        batch.put(queue_key(uid, ++seq), encode(q));
        ++entries;
      }
      commit_if_full(false);
    }
  }
  commit_if_full(true);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("{\"sessions\":%llu,\"queued\":%llu,\"bodies\":%llu,\"fill_s\":%.2f}\n",
              static_cast<unsigned long long>(o.sessions), static_cast<unsigned long long>(entries),
              static_cast<unsigned long long>(bodies), s);
  return 0;
}
