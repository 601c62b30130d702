#pragma once
// Small text helpers shared by the CLI, the studio and core error messages.

#include <cstdint>
#include <span>
#include <string>

namespace lms {

// "[32, 64]" (separator ", ") or "[32,64]" (separator ",").
std::string formatDims(std::span<const int64_t> dims, std::string_view separator = ",");
// "1.5 GiB", "512 B".
std::string formatBytes(uint64_t bytes);

}  // namespace lms
