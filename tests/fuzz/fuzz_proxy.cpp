// The PROXY protocol header parser. Input: the bytes a connection starts with. Nothing may crash;
// a complete header never claims more bytes than it was given, and parsing only its own bytes
// gives the same header (what follows it is never part of it).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"
#include "net/proxy_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const auto h = hermod::net::parse_proxy_header(in);
  if (h.status != hermod::net::ProxyHeader::Status::complete) return 0;
  FUZZ_CHECK(h.size > 0 && h.size <= size);
  const auto again = hermod::net::parse_proxy_header(in.substr(0, h.size));
  FUZZ_CHECK(again.status == h.status && again.size == h.size && again.source == h.source);
  FUZZ_CHECK(again.common_name == h.common_name && again.certificate_verified == h.certificate_verified);
  return 0;
}
