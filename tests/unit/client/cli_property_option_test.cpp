// hermod-cli -D properties (src/cli/hermod_cli/property_option.hpp).
#include "property_option.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace hermod::cli {
namespace {

TEST(CliPropertyOption, TakesDGroupsOutOfTheArguments) {
  std::vector<std::string> args{"-t", "x", "-D", "publish", "user-property", "k", "v", "-m", "y",
                                "-D", "connect", "session-expiry-interval", "60"};
  CommandProperties props;
  extract_properties(args, props);
  EXPECT_EQ(args, (std::vector<std::string>{"-t", "x", "-m", "y"}));
  ASSERT_EQ(props.publish.user_properties.size(), 1u);
  EXPECT_EQ(props.publish.user_properties[0], (mqtt::UserProperty{"k", "v"}));
  EXPECT_EQ(props.connect.session_expiry_interval, 60u);
  EXPECT_TRUE(props.any);
}

TEST(CliPropertyOption, TypedValuesAreRangeChecked) {
  CommandProperties props;
  apply_property(props, "connect", "receive-maximum", "10");
  EXPECT_EQ(props.connect.receive_maximum, 10);
  EXPECT_THROW(apply_property(props, "connect", "receive-maximum", "70000"), std::invalid_argument);
  EXPECT_THROW(apply_property(props, "connect", "receive-maximum", "0"), std::invalid_argument);
  EXPECT_THROW(apply_property(props, "publish", "message-expiry-interval", "soon"), std::invalid_argument);
}

TEST(CliPropertyOption, PropertyMustBelongToTheCommand) {
  CommandProperties props;
  EXPECT_THROW(apply_property(props, "publish", "session-expiry-interval", "1"), std::invalid_argument);
  EXPECT_THROW(apply_property(props, "bogus", "content-type", "x"), std::invalid_argument);
  EXPECT_THROW(apply_property(props, "publish", "no-such-thing", "x"), std::invalid_argument);
  apply_property(props, "will", "will-delay-interval", "5");
  EXPECT_EQ(props.will.will_delay_interval, 5u);
}

TEST(CliPropertyOption, IncompleteGroupIsAnError) {
  std::vector<std::string> args{"-D", "publish", "user-property", "k"};
  CommandProperties props;
  EXPECT_THROW(extract_properties(args, props), std::invalid_argument);
}

}  // namespace
}  // namespace hermod::cli
