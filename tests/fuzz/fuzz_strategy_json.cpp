// libFuzzer target: JSON strategy text through parseJson() (with a print/parse round trip) and
// parseStrategy(), then the layout arithmetic on every accepted layout.
#include "FuzzHarness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return lms::fuzz::fuzzStrategy(std::span<const uint8_t>(data, size), lms::StrategyFormat::Json);
}
