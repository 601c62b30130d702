// libFuzzer target: protobuf ParallelStrategyMap bytes through parseStrategy(), then the layout
// arithmetic (slices, exact cover, full-shape inference) on every accepted layout.
#include "FuzzHarness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return lms::fuzz::fuzzStrategy(std::span<const uint8_t>(data, size), lms::StrategyFormat::Protobuf);
}
