#pragma once
// Statistics of one tensor's values (the studio's Tensors tab, `loramerge inspect --stats`):
// counts, range, mean, standard deviation and a histogram, in two passes over bounded blocks, so
// the statistics of a tensor larger than memory need no buffer of its size.

#include "lms/base/DType.h"
#include "lms/base/Error.h"
#include "lms/base/Progress.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace lms {

class ModelSource;

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
[[nodiscard]] Result<TensorStatistics> computeStatistics(DType dtype, std::span<const std::byte> bytes,
                                                         int bins = 64, const CancelToken* cancel = nullptr);

// The statistics of tensor `index` of `source`, read through ModelSource::readRows in blocks of
// about `blockBytes` (at least one row): pass 1 the counts, range and Welford mean/variance, pass 2
// the histogram over that range. Memory is one block (the source's own readRows buffering aside).
// Read errors are returned as the source reports them; cancelling returns Cancelled.
[[nodiscard]] Result<TensorStatistics> computeStatistics(const ModelSource& source, size_t index,
                                                         int bins = 64, const CancelToken* cancel = nullptr,
                                                         uint64_t blockBytes = uint64_t(16) << 20);

}  // namespace lms
