// libFuzzer target: a model described as text (one "name<TAB>type<TAB>d0,d1" line per tensor)
// through planLora(), then a verified merge through an in-memory source when the shapes are
// small enough to materialize.
#include "FuzzHarness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return lms::fuzz::fuzzLoraPlan(std::span<const uint8_t>(data, size));
}
