#include "broker/routing/message.hpp"

#include <cstring>
#include <new>

namespace hermod::broker {

namespace {

// Allocates what std::allocate_shared asks for plus `extra` bytes behind it, and tells where
// those begin: the control block (reference counts and the Message) comes first, the topic and
// payload bytes follow.
template <typename T>
struct TailAllocator {
  using value_type = T;

  TailAllocator(std::size_t extra_bytes, char** tail_out) : extra(extra_bytes), tail(tail_out) {}
  template <typename U>
  TailAllocator(const TailAllocator<U>& other) : extra(other.extra), tail(other.tail) {}

  T* allocate(std::size_t n) {
    char* p = static_cast<char*>(::operator new(n * sizeof(T) + extra));
    *tail = p + n * sizeof(T);
    return reinterpret_cast<T*>(p);
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }

  template <typename U>
  bool operator==(const TailAllocator<U>& other) const { return extra == other.extra; }

  std::size_t extra;
  char** tail;  // written by the single allocate() of make_message; not used after it returns
};

}  // namespace

Message::Message(Token, char* const* bytes, std::string_view topic, std::string_view payload) {
  char* p = *bytes;
  if (!topic.empty()) std::memcpy(p, topic.data(), topic.size());
  if (!payload.empty()) std::memcpy(p + topic.size(), payload.data(), payload.size());
  topic_ = std::string_view(p, topic.size());
  payload_ = std::string_view(p + topic.size(), payload.size());
}

std::shared_ptr<Message> make_message(std::string_view topic, std::string_view payload) {
  char* tail = nullptr;
  // allocate_shared allocates (setting `tail`), then constructs the Message, which copies the
  // bytes there.
  return std::allocate_shared<Message>(TailAllocator<Message>(topic.size() + payload.size(), &tail),
                                       Message::Token{}, &tail, topic, payload);
}

}  // namespace hermod::broker
