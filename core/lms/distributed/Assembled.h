#pragma once
// A model whose tensors are stored as pieces spread over several files: the shards of a
// MindFormers Checkpoint 2.0 iteration (metadata.json chunks) or of a unified / Hugging Face
// shard folder (one whole piece per tensor). Presented as one ModelSource; rows are read piece
// by piece, so memory stays bounded by the row block the caller asks for.

#include "lms/distributed/Layout.h"
#include "lms/formats/Source.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace lms {

// One stored piece of a tensor: the tensor `info` of `files[file]` holds `box` of the full tensor.
// `copies` lists further files holding the same piece (replicas), `file` first excluded.
struct StoredPiece {
    size_t file = 0;
    const TensorInfo* info = nullptr;
    Box box;
    std::vector<size_t> copies;
};

struct AssembledTensor {
    SourceTensor tensor;              // full name, dtype, dims, byte size
    std::vector<StoredPiece> pieces;  // cover the tensor exactly once
};

// Checks every piece (dtype and stored shape equal to the box, box inside the tensor, exact cover)
// and builds the source. Errors name the file and the parameter: the shard for a piece that does
// not match what it stores, `indexFile` (the metadata or map that placed the pieces) for a gap or an
// overlap. `description` is the one line ModelSource::description() returns.
[[nodiscard]] Result<std::unique_ptr<ModelSource>> makeAssembledSource(
    std::string description, const std::filesystem::path& indexFile,
    std::vector<std::shared_ptr<CheckpointFile>> files, std::vector<AssembledTensor> tensors);

// The files and the pieces of every tensor (parallel to source.tensors()) of a source that
// makeAssembledSource made, for showing where each piece is stored (the studio's chunk map);
// nullopt for any other source. The pointers live as long as `source`.
struct AssembledView {
    const std::vector<std::shared_ptr<CheckpointFile>>* files = nullptr;
    const std::vector<AssembledTensor>* tensors = nullptr;
};
std::optional<AssembledView> assembledView(const ModelSource& source);

}  // namespace lms
