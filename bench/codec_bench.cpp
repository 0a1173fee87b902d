// Codec throughput on fixed inputs: decode (parse_fixed_header + decode_packet) and encode of a
// PUBLISH with a 64-byte and a 1 KiB payload, for 3.1.1 and 5.0, and of a typical CONNECT.
// Reported as bytes/s of wire data. Run: build/release/bench/hermod_codec_bench
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace {

using namespace hermod::mqtt;

ProtocolVersion version_arg(const benchmark::State& state) {
  return static_cast<ProtocolVersion>(state.range(1));
}

Publish sample_publish(std::size_t payload_size, ProtocolVersion v) {
  Publish p{.topic = "sensors/building-7/floor-3/temperature", .payload = std::string(payload_size, 'x'),
            .qos = 1, .packet_id = 4711};
  if (is_v5(v)) {
    p.props.message_expiry_interval = 3600;
    p.props.content_type = "application/json";
    p.props.user_properties = {{"source", "bench"}};
  }
  return p;
}

Connect sample_connect() {
  Connect c{.version = ProtocolVersion::v5, .clean_start = false, .keep_alive = 60,
            .client_id = "bench-client-000042", .username = "device-42", .password = "s3cr3t-t0ken"};
  c.will = Will{.topic = "devices/42/status", .payload = "offline", .qos = 1, .retain = true};
  c.will->props.will_delay_interval = 10;
  c.props.session_expiry_interval = 86400;
  c.props.receive_maximum = 100;
  c.props.maximum_packet_size = 1 << 20;
  c.props.user_properties = {{"region", "eu-west"}};
  return c;
}

void decode_loop(benchmark::State& state, const std::string& wire, ProtocolVersion v) {
  for (auto _ : state) {
    auto header = parse_fixed_header(wire);
    const auto& h = **header;
    auto packet = decode_packet(h, std::string_view(wire).substr(h.header_length), v);
    if (!packet) state.SkipWithError("decode failed");
    benchmark::DoNotOptimize(packet);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size()));
}

void encode_loop(benchmark::State& state, const Packet& packet, ProtocolVersion v) {
  std::string out;
  for (auto _ : state) {
    out.clear();  // keeps the capacity, as a connection's write buffer would
    encode(packet, v, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}

void BM_DecodePublish(benchmark::State& state) {
  const auto v = version_arg(state);
  decode_loop(state, encode(sample_publish(static_cast<std::size_t>(state.range(0)), v), v), v);
}

void BM_EncodePublish(benchmark::State& state) {
  const auto v = version_arg(state);
  encode_loop(state, sample_publish(static_cast<std::size_t>(state.range(0)), v), v);
}

void BM_DecodeConnect(benchmark::State& state) {
  decode_loop(state, encode(sample_connect(), ProtocolVersion::v5), ProtocolVersion::v5);
}

void BM_EncodeConnect(benchmark::State& state) {
  encode_loop(state, sample_connect(), ProtocolVersion::v5);
}

// Args: payload bytes, protocol level (4 = 3.1.1, 5 = 5.0).
BENCHMARK(BM_DecodePublish)->ArgsProduct({{64, 1024}, {4, 5}})->ArgNames({"payload", "level"});
BENCHMARK(BM_EncodePublish)->ArgsProduct({{64, 1024}, {4, 5}})->ArgNames({"payload", "level"});
BENCHMARK(BM_DecodeConnect);
BENCHMARK(BM_EncodeConnect);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("hermod_commit", HERMOD_BENCH_COMMIT);
  benchmark::AddCustomContext("hermod_build_type", HERMOD_BENCH_BUILD_TYPE);
  if (std::string_view(HERMOD_BENCH_BUILD_TYPE) != "Release") {
    std::fprintf(stderr, "WARNING: %s build; codec numbers are only meaningful in Release\n",
                 HERMOD_BENCH_BUILD_TYPE);
  }
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  std::fprintf(stderr, "WARNING: built with a sanitizer; numbers are not representative\n");
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
