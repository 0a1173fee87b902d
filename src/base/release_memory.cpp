#include "base/release_memory.hpp"

#include <dlfcn.h>
#include <malloc.h>

namespace hermod {

namespace {
using CollectFn = void (*)(bool);
using PurgeFn = void (*)();
using OptionGetFn = long (*)(int);
using OptionSetFn = void (*)(int, long);
// mimalloc 2.0's mi_option_decommit_delay (mimalloc.h, enum mi_option_e); the header is not
// included so that builds without mimalloc need none.
constexpr int kDecommitDelay = 15;

// The executable's allocator, by the symbols in the global scope: mimalloc's, or a sanitizer's
// (whose allocator replaces malloc, so glibc's malloc_trim would find nothing to trim).
CollectFn find_mi_collect() { return reinterpret_cast<CollectFn>(::dlsym(RTLD_DEFAULT, "mi_collect")); }
OptionGetFn find_option_get() { return reinterpret_cast<OptionGetFn>(::dlsym(RTLD_DEFAULT, "mi_option_get")); }
OptionSetFn find_option_set() { return reinterpret_cast<OptionSetFn>(::dlsym(RTLD_DEFAULT, "mi_option_set")); }
PurgeFn find_sanitizer_purge() {
  return reinterpret_cast<PurgeFn>(::dlsym(RTLD_DEFAULT, "__sanitizer_purge_allocator"));
}
}  // namespace

const char* release_free_memory() {
  // Looked up once: constants of the process, not state (the allocator never changes).
  static const CollectFn collect = find_mi_collect();
  static const PurgeFn purge = collect ? nullptr : find_sanitizer_purge();
  if (collect) {
    // Pages freed while mimalloc's decommit delay is 0 are given back at once; with its default
    // delay (25 ms) a collection left pages freed by another thread's earlier frees committed
    // (test_memory_budget.py: 2 of 24 MiB back within 5 s). The option is a plain value read at
    // each use: set for the collection, then put back.
    static const OptionGetFn get = find_option_get();
    static const OptionSetFn set = find_option_set();
    const long delay = get && set ? get(kDecommitDelay) : 0;
    if (delay > 0) set(kDecommitDelay, 0);
    collect(true);
    if (delay > 0) set(kDecommitDelay, delay);
    return "mimalloc";
  }
  if (purge) {
    purge();  // empties the quarantine and gives free pages back
    return "sanitizer";
  }
  ::malloc_trim(0);
  return "malloc_trim";
}

}  // namespace hermod
