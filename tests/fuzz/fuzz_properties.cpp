// decode_properties in each context (byte 0 picks it; the rest is a property list). A list that
// decodes must re-encode to one no longer than the input that decodes to the same properties, and
// encoded_properties_size must be exact.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/wire.hpp"

using namespace hermod::mqtt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const auto ctx = static_cast<PropertyContext>(1 + data[0] % 16);  // connect .. auth, will
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);

  Reader reader(in);
  auto props = decode_properties(reader, ctx);
  if (!props) {
    FUZZ_CHECK(props.error().code == ReasonCode::malformed_packet ||
               props.error().code == ReasonCode::protocol_error);
    return 0;
  }
  const std::size_t consumed = in.size() - reader.remaining();

  std::string out;
  encode_properties(out, *props, ctx);
  FUZZ_CHECK(out.size() == encoded_properties_size(*props, ctx));
  FUZZ_CHECK(out.size() <= consumed);

  Reader again(out);
  auto second = decode_properties(again, ctx);
  FUZZ_CHECK(second.ok());
  FUZZ_CHECK(again.empty());
  FUZZ_CHECK(*second == *props);  // so nothing that decoded was dropped as not allowed in ctx
  return 0;
}
