#include "http/prometheus_text.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <limits>

#include "broker/metrics/latency_histogram.hpp"
#include "broker/metrics/worker_stats.hpp"

namespace hermod::http {
namespace {

TEST(PrometheusText, FamilyThenSamplesWithAndWithoutLabels) {
  PrometheusText out;
  out.family("hermod_messages_received_total", "counter", "PUBLISH packets from clients");
  out.sample("hermod_messages_received_total", {{"qos", "0"}}, std::uint64_t{42});
  out.sample("hermod_messages_received_total", {{"qos", "1"}, {"listener", "a"}}, std::uint64_t{0});
  out.family("hermod_retained_messages", "gauge", "Retained messages");
  out.sample("hermod_retained_messages", {}, std::uint64_t{7});
  EXPECT_EQ(out.text(),
            "# HELP hermod_messages_received_total PUBLISH packets from clients\n"
            "# TYPE hermod_messages_received_total counter\n"
            "hermod_messages_received_total{qos=\"0\"} 42\n"
            "hermod_messages_received_total{qos=\"1\",listener=\"a\"} 0\n"
            "# HELP hermod_retained_messages Retained messages\n"
            "# TYPE hermod_retained_messages gauge\n"
            "hermod_retained_messages 7\n");
}

TEST(PrometheusText, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(PrometheusText::escape_label_value(R"(a\b"c)" "\nd"), R"(a\\b\"c\nd)");
  EXPECT_EQ(PrometheusText::escape_help("back\\slash \"quoted\"\nnext"), "back\\\\slash \"quoted\"\\nnext");
  PrometheusText out;
  out.family("x", "gauge", "line one\nline two");
  out.sample("x", {{"listener", "ws \"/mqtt\""}}, std::uint64_t{1});
  EXPECT_EQ(out.text(), "# HELP x line one\\nline two\n# TYPE x gauge\nx{listener=\"ws \\\"/mqtt\\\"\"} 1\n");
}

TEST(PrometheusText, FloatsInTheFormPrometheusParses) {
  PrometheusText out;
  out.sample("a", {}, 0.000133);
  out.sample("b", {}, 1.5);
  out.sample("c", {}, std::numeric_limits<double>::infinity());
  out.sample("d", {}, -std::numeric_limits<double>::infinity());
  out.sample("e", {}, std::nan(""));
  out.sample("f", {}, 1796301851.4893656);
  EXPECT_EQ(out.text(), "a 0.000133\nb 1.5\nc +Inf\nd -Inf\ne NaN\nf 1796301851.4893656\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  PrometheusText out;
  const std::array<double, 3> bounds{0.001, 0.01, 0.1};
  const std::array<std::uint64_t, 4> counts{2, 0, 3, 1};  // per bucket, the last past 0.1
  out.histogram("h_seconds", {{"worker", "0"}}, bounds, counts, 0.25);
  EXPECT_EQ(out.text(),
            "h_seconds_bucket{worker=\"0\",le=\"0.001\"} 2\n"
            "h_seconds_bucket{worker=\"0\",le=\"0.01\"} 2\n"
            "h_seconds_bucket{worker=\"0\",le=\"0.1\"} 5\n"
            "h_seconds_bucket{worker=\"0\",le=\"+Inf\"} 6\n"
            "h_seconds_sum{worker=\"0\"} 0.25\n"
            "h_seconds_count{worker=\"0\"} 6\n");
}

TEST(PrometheusText, NameRules) {
  EXPECT_TRUE(PrometheusText::valid_metric_name("hermod_connections"));
  EXPECT_TRUE(PrometheusText::valid_metric_name("a:b_c9"));
  EXPECT_FALSE(PrometheusText::valid_metric_name("9lives"));
  EXPECT_FALSE(PrometheusText::valid_metric_name("has-dash"));
  EXPECT_FALSE(PrometheusText::valid_metric_name(""));
  EXPECT_TRUE(PrometheusText::valid_label_name("qos"));
  EXPECT_FALSE(PrometheusText::valid_label_name("a:b"));
  EXPECT_FALSE(PrometheusText::valid_label_name("__reserved"));
}

TEST(LatencyHistogram, ObservationsLandInTheFirstBucketThatHoldsThem) {
  broker::LatencyHistogram h;
  h.observe(0);
  h.observe(50);    // at the bound: in it
  h.observe(51);
  h.observe(2'000'000);  // past the last bound
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(broker::LatencyHistogram::kBuckets - 1), 1u);
  EXPECT_EQ(h.sum_us(), 2'000'101u);
}

TEST(WorkerStats, DropsAreCountedByReasonAndInTotal) {
  broker::WorkerStats s;
  s.drop(broker::DropReason::queue_full);
  s.drop(broker::DropReason::queue_full);
  s.drop(broker::DropReason::closed);
  EXPECT_EQ(s.dropped_for(broker::DropReason::queue_full), 2u);
  EXPECT_EQ(s.dropped_total(), 3u);
  EXPECT_EQ(broker::to_string(broker::DropReason::closed), "closed");
  EXPECT_EQ(broker::to_string(broker::DropReason::queue_full), "queue_full");
  s.set_listeners(2);
  ASSERT_NE(s.listener(1), nullptr);
  EXPECT_EQ(s.listener(2), nullptr);
  EXPECT_EQ(broker::ListenerStats::version_index(3), 0u);
  EXPECT_EQ(broker::ListenerStats::version_index(4), 1u);
  EXPECT_EQ(broker::ListenerStats::version_index(5), 2u);
}

}  // namespace
}  // namespace hermod::http
