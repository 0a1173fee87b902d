#include "broker/store/store.hpp"

#include <chrono>
#include <ctime>
#include <filesystem>

#include <sys/statvfs.h>

#include <rocksdb/db.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace hermod::broker::store {

namespace {
// Free space the store leaves on its filesystem; commits beyond it are refused.
constexpr std::uint64_t kMinFreeBytes = 8 << 20;
// Bumped whenever the record format changes incompatibly.
constexpr std::string_view kFormatKey = "~format";
// 2: queue entries may carry their body inline. Version 1 stores are read as they are (their
// records are a subset) and marked 2 when opened.
constexpr std::string_view kFormatVersion = "hermod-store-2";
constexpr std::string_view kReadableOlderVersion = "hermod-store-1";

}  // namespace

std::string Store::prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}

Mode parse_mode(const std::string& s) {
  if (s == "memory") return Mode::memory;
  if (s == "wal") return Mode::wal;
  if (s == "fsync") return Mode::fsync;
  throw std::invalid_argument("must be one of fsync, wal, memory");
}

const char* to_string(Mode m) {
  switch (m) {
    case Mode::memory: return "memory";
    case Mode::wal: return "wal";
    case Mode::fsync: return "fsync";
  }
  return "?";
}

Batch::Batch() : batch_(std::make_unique<rocksdb::WriteBatch>()) {}
Batch::~Batch() = default;

void Batch::put(std::string_view key, std::string_view value) {
  batch_->Put(rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
  ++count_;
}

void Batch::del(std::string_view key) {
  batch_->Delete(rocksdb::Slice(key.data(), key.size()));
  ++count_;
}

void Batch::del_prefix(std::string_view prefix) {
  const auto end = Store::prefix_end(prefix);
  batch_->DeleteRange(rocksdb::Slice(prefix.data(), prefix.size()), rocksdb::Slice(end));
  ++count_;
}

void Batch::clear() {
  batch_->Clear();
  count_ = 0;
}

Store::Store(const std::string& dir, Mode mode) : dir_(dir), mode_(mode) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw StoreError("cannot create data directory " + dir + ": " + ec.message());
  rocksdb::Options options;
  options.create_if_missing = true;
  // A torn write at the end of the log (crash, power loss) is cut off, not a refusal to start.
  options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  options.IncreaseParallelism(2);
  options.max_total_wal_size = 64 << 20;
  // The running broker only writes (reads happen once, at start-up): an unsorted vector memtable
  // appends in O(1) and is sorted when flushed, where the default skiplist spent most of the
  // broker's CPU comparing keys on every put and delete. It needs writes applied by one thread
  // at a time, which RocksDB's write group does anyway.
  options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  options.allow_concurrent_memtable_write = false;
  rocksdb::DB* db = nullptr;
  const auto status = rocksdb::DB::Open(options, dir, &db);
  if (!status.ok()) {
    std::string advice;
    if (status.IsIOError() && status.ToString().find("lock") != std::string::npos) {
      advice = " (is another hermod using this data directory?)";
    } else if (status.IsCorruption()) {
      advice = "; to start with an empty store and keep the old one aside, run hermod --data-dir " + dir +
               " --store-reset";
    }
    throw StoreError("cannot open store in " + dir + ": " + status.ToString() + advice);
  }
  db_.reset(db);
  std::string version;
  const auto s = db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(kFormatKey.data(), kFormatKey.size()), &version);
  if (s.IsNotFound() || (s.ok() && version == kReadableOlderVersion)) {
    rocksdb::WriteOptions w;
    w.sync = true;
    db_->Put(w, rocksdb::Slice(kFormatKey.data(), kFormatKey.size()),
             rocksdb::Slice(kFormatVersion.data(), kFormatVersion.size()));
  } else if (!s.ok() || version != kFormatVersion) {
    db_.reset();
    throw StoreError("store in " + dir + " has format '" + version + "', this hermod reads '" +
                     std::string(kFormatVersion) + "' and '" + std::string(kReadableOlderVersion) + "'; run hermod --data-dir " + dir +
                     " --store-reset to move it aside and start empty");
  }
}

Store::~Store() = default;

Status Store::commit(Batch& batch) {
  if (batch.empty()) return {};
  if (failed_.load(std::memory_order_acquire)) {
    // RocksDB must not be written again after a failed log write (its own assertions say so);
    // every later commit fails until the broker is restarted.
    batch.clear();
    return Status::failure("the store stopped after an earlier write error; free space and restart hermod");
  }
  // Refuse before the disk is full: RocksDB must never see a failed log write (Debian's build
  // asserts on the next one), and its flushes need room too.
  struct statvfs fs {};
  if (::statvfs(dir_.c_str(), &fs) == 0) {
    const auto free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes < kMinFreeBytes + batch.raw().GetDataSize()) {
      batch.clear();
      return Status::failure("no space left: " + std::to_string(free_bytes >> 10) + " KiB free in " + dir_ +
                             " (hermod keeps " + std::to_string(kMinFreeBytes >> 20) + " MiB free)");
    }
  }
  rocksdb::WriteOptions w;
  w.sync = mode_ == Mode::fsync;
  const auto status = db_->Write(w, &batch.raw());
  batch.clear();
  if (status.ok()) return {};
  failed_.store(true, std::memory_order_release);
  return Status::failure(status.ToString());
}

void Store::scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& f) {
  scan_range(prefix, prefix_end(prefix), f);
}

void Store::scan_range(std::string_view from, std::string_view to,
                       const std::function<void(std::string_view, std::string_view)>& f) {
  // Recovery reads everything once, in order: read ahead, and keep the block cache for the
  // blocks the running broker will read again.
  rocksdb::ReadOptions r;
  r.fill_cache = false;
  r.readahead_size = 4 << 20;
  const rocksdb::Slice upper(to.data(), to.size());
  if (!to.empty()) r.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(r));
  for (it->Seek(rocksdb::Slice(from.data(), from.size())); it->Valid(); it->Next()) {
    const auto k = it->key();
    const auto v = it->value();
    f(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()));
  }
}

std::string Store::move_aside(const std::string& dir) {
  const auto now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::gmtime(&now));
  const std::string target = dir + ".bad-" + stamp;
  std::filesystem::rename(dir, target);
  return target;
}

}  // namespace hermod::broker::store
