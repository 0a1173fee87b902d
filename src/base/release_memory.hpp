// Giving freed heap memory back to the system, whichever allocator the executable runs on: the
// broker's release build links mimalloc (CMakeLists.txt), sanitizer and unit-test builds run on
// glibc's malloc or a sanitizer's allocator. Looked up at run time (dlsym), so the libraries that call it do not depend on
// which allocator the executable links.
//
// Threads: any. mimalloc's collection acts on the calling thread's heap (and segments other
// threads abandoned), so each worker calls it on its own thread.
#pragma once

namespace hermod {

// mimalloc: mi_collect(true) on this thread's heap; ASan/TSan: __sanitizer_purge_allocator();
// glibc: malloc_trim(0). Costs a walk of the heap's pages: for after a burst, not for every
// turn. Returns which one ran ("mimalloc", "sanitizer", "malloc_trim").
const char* release_free_memory();

}  // namespace hermod
