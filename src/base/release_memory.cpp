#include "base/release_memory.hpp"

#include <dlfcn.h>
#include <malloc.h>

namespace hermod {

namespace {
using CollectFn = void (*)(bool);
using PurgeFn = void (*)();

// The executable's allocator, by the symbols in the global scope: mimalloc's, or a sanitizer's
// (whose allocator replaces malloc, so glibc's malloc_trim would find nothing to trim).
CollectFn find_mi_collect() { return reinterpret_cast<CollectFn>(::dlsym(RTLD_DEFAULT, "mi_collect")); }
PurgeFn find_sanitizer_purge() {
  return reinterpret_cast<PurgeFn>(::dlsym(RTLD_DEFAULT, "__sanitizer_purge_allocator"));
}
}  // namespace

const char* release_free_memory() {
  // Looked up once: constants of the process, not state (the allocator never changes).
  static const CollectFn collect = find_mi_collect();
  static const PurgeFn purge = collect ? nullptr : find_sanitizer_purge();
  if (collect) {
    collect(true);
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
