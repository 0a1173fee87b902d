// Helpers shared by the two topic tries (Router, RetainedStore): walking a topic's levels, tearing
// a trie down without recursion, and memory for tries too large for the caches. The functions are
// stateless and safe on any thread; a CellArena belongs to its owner's thread.
#pragma once

#include <sys/mman.h>

#include <array>
#include <cassert>
#include <cstdlib>
#include <memory>
#include <new>
#include <string_view>
#include <vector>

namespace hermod::broker {

// Calls f(level) for each '/'-separated level of `s`, empty levels included ("a//b" has three).
template <typename F>
void for_each_level(std::string_view s, F&& f) {
  // A plain loop: levels are short, and memchr's call costs more than it saves on them.
  const char* p = s.data();
  const char* const end = p + s.size();
  const char* start = p;
  for (; p != end; ++p) {
    if (*p == '/') {
      f(std::string_view(start, static_cast<std::size_t>(p - start)));
      start = p + 1;
    }
  }
  f(std::string_view(start, static_cast<std::size_t>(end - start)));
}

// Destroys a trie whose nodes own their children in a `children` map of unique_ptrs. Iterative:
// a topic may have tens of thousands of levels, too deep for recursive destructors.
template <typename Node>
void destroy_trie(std::unique_ptr<Node> root) {
  std::vector<std::unique_ptr<Node>> stack;
  stack.push_back(std::move(root));
  while (!stack.empty()) {
    auto n = std::move(stack.back());
    stack.pop_back();
    for (auto& [_, child] : n->children) stack.push_back(std::move(child));
  }
}

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

// Cache-line aligned memory, uninitialised. From 2 MiB up it is aligned to 2 MiB and the kernel is
// asked to back it with transparent huge pages: a trie of millions of nodes spans far more 4 KiB
// pages than the TLB maps, and on a virtual machine a TLB miss costs about as much again as the
// cache miss. Throws std::bad_alloc. Release with release_lines().
inline void* allocate_lines(std::size_t bytes) {
  const std::size_t align = bytes >= kHugePage ? kHugePage : kCacheLine;
  bytes = (bytes + align - 1) & ~(align - 1);
  void* p = std::aligned_alloc(align, bytes);
  if (!p) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (align == kHugePage) ::madvise(p, bytes, MADV_HUGEPAGE);  // a hint; failure is harmless
#endif
  return p;
}

inline void release_lines(void* p) { std::free(p); }

// Cells of 64 bytes to 256 KiB (size class k holds 64 << k bytes), cache-line aligned, carved
// from chunks that grow from 16 KiB to 2 MiB (huge pages at 2 MiB), one free list per class.
// Freed cells are reused, never returned to the system before the arena dies: a trie that shrank
// is likely to grow again. One owner thread; destroying the arena frees every cell at once.
class CellArena {
 public:
  static constexpr unsigned kClasses = 13;

  CellArena() = default;
  ~CellArena() {
    for (void* c : chunks_) release_lines(c);
  }
  CellArena(const CellArena&) = delete;
  CellArena& operator=(const CellArena&) = delete;

  static constexpr std::size_t cell_size(unsigned size_class) { return kCacheLine << size_class; }

  // Uninitialised memory for one cell of `size_class`. Throws std::bad_alloc.
  void* allocate(unsigned size_class) {
    assert(size_class < kClasses);
    if (FreeCell* f = free_[size_class]) {
      free_[size_class] = f->next;
      return f;
    }
    const std::size_t size = cell_size(size_class);
    if (static_cast<std::size_t>(end_ - cur_) < size) new_chunk(size);
    void* p = cur_;
    cur_ += size;
    return p;
  }

  // Precondition: `p` came from allocate(size_class) of this arena.
  void deallocate(void* p, unsigned size_class) {
    free_[size_class] = ::new (p) FreeCell{free_[size_class]};
  }

 private:
  struct FreeCell {
    FreeCell* next;
  };

  void new_chunk(std::size_t at_least) {
    // The tail of the old chunk is too short for the cell asked for: keep it as smaller cells.
    for (unsigned c = kClasses; c-- > 0;) {
      for (; static_cast<std::size_t>(end_ - cur_) >= cell_size(c); cur_ += cell_size(c)) deallocate(cur_, c);
    }
    while (next_chunk_ < at_least) next_chunk_ *= 2;
    chunks_.reserve(chunks_.size() + 1);
    cur_ = static_cast<char*>(allocate_lines(next_chunk_));
    chunks_.push_back(cur_);
    end_ = cur_ + next_chunk_;
    if (next_chunk_ < kMaxChunk) next_chunk_ *= 2;
  }

  static constexpr std::size_t kMaxChunk = kHugePage;
  static_assert(kMaxChunk >= (kCacheLine << (kClasses - 1)));

  std::array<FreeCell*, kClasses> free_{};
  char* cur_ = nullptr;
  char* end_ = nullptr;
  std::size_t next_chunk_ = std::size_t{16} << 10;
  std::vector<void*> chunks_;
};

}  // namespace hermod::broker
