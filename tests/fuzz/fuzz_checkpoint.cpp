// libFuzzer target: .ckpt and .safetensors bytes through the two-phase reader (index, every
// tensor read, CRC check), then the planner and a verified merge of whatever was accepted.
#include "FuzzHarness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    return lms::fuzz::fuzzCheckpoint(std::span<const uint8_t>(data, size));
}
