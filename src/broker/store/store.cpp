#include "broker/store/store.hpp"

#include <chrono>
#include <ctime>
#include <filesystem>

#include <sys/statvfs.h>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

namespace hermod::broker::store {

namespace {
// Free space the store leaves on its filesystem; commits beyond it are refused.
constexpr std::uint64_t kMinFreeBytes = 8 << 20;
// Bumped whenever the record format changes incompatibly.
constexpr std::string_view kFormatKey = "~format";
constexpr std::string_view kFormatVersion = "hermod-store-1";

std::string prefix_end(std::string_view prefix) {
  // The smallest key greater than every key with this prefix.
  std::string end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xFF) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return end;
}
}  // namespace

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
  const auto end = prefix_end(prefix);
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
  if (s.IsNotFound()) {
    rocksdb::WriteOptions w;
    w.sync = true;
    db_->Put(w, rocksdb::Slice(kFormatKey.data(), kFormatKey.size()),
             rocksdb::Slice(kFormatVersion.data(), kFormatVersion.size()));
  } else if (!s.ok() || version != kFormatVersion) {
    db_.reset();
    throw StoreError("store in " + dir + " has format '" + version + "', this hermod reads '" +
                     std::string(kFormatVersion) + "'; run hermod --data-dir " + dir +
                     " --store-reset to move it aside and start empty");
  }
}

Store::~Store() = default;

std::string Store::commit(Batch& batch) {
  if (batch.empty()) return {};
  if (failed_.load(std::memory_order_acquire)) {
    // RocksDB must not be written again after a failed log write (its own assertions say so);
    // every later commit fails until the broker is restarted.
    batch.clear();
    return "the store stopped after an earlier write error; free space and restart hermod";
  }
  // Refuse before the disk is full: RocksDB must never see a failed log write (Debian's build
  // asserts on the next one), and its flushes need room too.
  struct statvfs fs {};
  if (::statvfs(dir_.c_str(), &fs) == 0) {
    const auto free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes < kMinFreeBytes + batch.raw().GetDataSize()) {
      batch.clear();
      return "no space left: " + std::to_string(free_bytes >> 10) + " KiB free in " + dir_ +
             " (hermod keeps " + std::to_string(kMinFreeBytes >> 20) + " MiB free)";
    }
  }
  rocksdb::WriteOptions w;
  w.sync = mode_ == Mode::fsync;
  const auto status = db_->Write(w, &batch.raw());
  batch.clear();
  if (status.ok()) return {};
  failed_.store(true, std::memory_order_release);
  return status.ToString();
}

void Store::scan(std::string_view prefix, const std::function<void(std::string_view, std::string_view)>& f) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    const auto k = it->key();
    if (!k.starts_with(rocksdb::Slice(prefix.data(), prefix.size()))) break;
    f(std::string_view(k.data(), k.size()), std::string_view(it->value().data(), it->value().size()));
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
