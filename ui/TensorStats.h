#pragma once
// Statistics of one tensor's values for the Tensors tab: computed from the raw bytes on a worker
// thread, in bounded chunks (floating types are widened to float32 a block at a time).

#include "lms/DType.h"
#include "lms/Error.h"
#include "lms/Progress.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace lms::ui {

struct TensorStatistics {
    uint64_t count = 0;  // elements
    uint64_t finite = 0;
    uint64_t nan = 0;
    uint64_t posInf = 0;
    uint64_t negInf = 0;
    uint64_t zeros = 0;
    // Over the finite values (0 when there are none).
    double min = 0, max = 0, mean = 0, stddev = 0;  // population standard deviation
    // Equal-width bins over [min, max] of the finite values.
    std::vector<uint64_t> histogram;
    double histogramMin = 0, histogramMax = 0;
};

// Supported: floating types, signed/unsigned integers and Bool. Unsupported (String, Int4,
// Unknown) is an Unsupported error saying why. `bytes` must hold count * element size bytes.
Result<TensorStatistics> computeStatistics(DType dtype, std::span<const std::byte> bytes, int bins = 64,
                                           const CancelToken* cancel = nullptr);

}  // namespace lms::ui
