// Durable state on RocksDB: persistent sessions and their subscriptions, the QoS 1/2 messages
// queued or in flight for them, inbound QoS 2 packet ids awaiting PUBREL, and retained messages.
//
// Group commit: each worker collects the writes of one turn of its loop in its own Batch and
// commits it once at the end of the turn, before any byte written in that turn leaves (see
// Worker::end_turn). In `fsync` mode the commit syncs the write-ahead log, so an acknowledgement
// is never sent for data that a power loss could take; `wal` mode survives a process crash only.
// Without a data directory the broker runs without a Store (memory mode).
//
// Thread-safe: RocksDB serializes and groups concurrent commits from several workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/status.hpp"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace hermod::broker::store {

enum class Mode { memory, wal, fsync };
Mode parse_mode(const std::string& s);  // throws std::invalid_argument
const char* to_string(Mode m);

// Opening the store failed; what() says why and what to do about it.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The writes of one worker turn. Single-threaded (its worker's).
class Batch {
 public:
  Batch();
  ~Batch();
  void put(std::string_view key, std::string_view value);
  void del(std::string_view key);
  // Deletes every key that starts with `prefix`.
  void del_prefix(std::string_view prefix);
  bool empty() const { return count_ == 0; }
  std::size_t count() const { return count_; }
  rocksdb::WriteBatch& raw() { return *batch_; }
  void clear();

 private:
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  std::size_t count_ = 0;
};

class Store {
 public:
  // Opens (or creates) the store in `dir`. A torn tail of the log is dropped (point-in-time
  // recovery). Throws StoreError for a store that cannot be used: permission, another hermod
  // holding the lock, corruption beyond the log tail, or a different format version.
  Store(const std::string& dir, Mode mode);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  Mode mode() const { return mode_; }
  const std::string& dir() const { return dir_; }

  // Writes `batch` atomically (synced in fsync mode) and clears it. On failure (disk full, I/O
  // error) the Status says why: nothing of the batch may then be acknowledged. After one failure
  // every later commit fails too, until a restart.
  Status commit(Batch& batch);

  // Calls f(key, value) for every key starting with `prefix`, in key order. Start-up only.
  void scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& f);
  // The same for every key in [from, to). Several threads may scan disjoint ranges at once.
  void scan_range(std::string_view from, std::string_view to,
                  const std::function<void(std::string_view, std::string_view)>& f);
  // The smallest key greater than every key starting with `prefix`.
  static std::string prefix_end(std::string_view prefix);

  // Moves a store that cannot be opened aside as DIR.bad-<time> so a new one can start; returns
  // the new name. Nothing is deleted.
  static std::string move_aside(const std::string& dir);

 private:
  std::string dir_;
  Mode mode_;
  std::unique_ptr<rocksdb::DB> db_;
  std::atomic<bool> failed_{false};
};

}  // namespace hermod::broker::store
