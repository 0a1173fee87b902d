// hermod-cli sub -F formats (src/cli/hermod_cli/output_format.hpp).
#include "output_format.hpp"

#include <gtest/gtest.h>

namespace hermod::cli {
namespace {

client::Message message() {
  client::Message m;
  m.topic = "sensors/1";
  m.payload = "21.5";
  m.qos = 1;
  m.retain = true;
  m.packet_id = 7;
  return m;
}

const auto kTime = std::chrono::system_clock::time_point(std::chrono::seconds(1'600'000'000));

TEST(CliOutputFormat, BasicSpecifiers) {
  EXPECT_EQ(format_message("%t %p q%q r%r l%l m%m %%", message(), kTime), "sensors/1 21.5 q1 r1 l4 m7 %");
}

TEST(CliOutputFormat, EscapesAndUnknownSpecifiers) {
  EXPECT_EQ(format_message("%t\\t%p\\n%z", message(), kTime), "sensors/1\t21.5\n%z");
}

TEST(CliOutputFormat, HexPayload) {
  EXPECT_EQ(format_message("%x %X", message(), kTime), "32312e35 32312E35");
}

TEST(CliOutputFormat, JsonLineHasMosquittoFields) {
  EXPECT_EQ(format_message("%j", message(), kTime),
            R"({"tst":"2020-09-13T12:26:40.000000Z+0000","topic":"sensors/1","qos":1,"retain":1,)"
            R"("payloadlen":4,"mid":7,"payload":"21.5"})");
}

TEST(CliOutputFormat, JsonOmitsMidForQoS0AndAddsV5Properties) {
  auto m = message();
  m.qos = 0;
  m.props.user_properties = {{"k", "v"}};
  m.props.content_type = "text/plain";
  const auto j = json_message(m, kTime);
  EXPECT_EQ(j.find("\"mid\""), std::string::npos);
  EXPECT_NE(j.find(R"("properties":{"user-properties":{"k":"v"},"content-type":"text/plain"})"), std::string::npos) << j;
}

TEST(CliOutputFormat, JsonStringsAreEscapedAndBinaryIsSafe) {
  EXPECT_EQ(json_string("a\"b\\c\n"), R"("a\"b\\c\n")");
  EXPECT_EQ(json_string(std::string("\x01", 1)), R"("\u0001")");
  EXPECT_EQ(json_string("\xff"), R"("\u00ff")") << "bytes that are not UTF-8 must not break the JSON";
  EXPECT_EQ(json_string("h\xc3\xa9"), "\"h\xc3\xa9\"") << "valid UTF-8 passes through";
}

TEST(CliOutputFormat, V5PropertySpecifiers) {
  auto m = message();
  m.props.content_type = "ct";
  m.props.response_topic = "rt";
  m.props.user_properties = {{"a", "1"}, {"b", "2"}};
  m.props.subscription_identifiers = {3, 4};
  EXPECT_EQ(format_message("%C|%R|%P|%S|%E", m, kTime), "ct|rt|a:1 b:2|3,4|");
}

}  // namespace
}  // namespace hermod::cli
