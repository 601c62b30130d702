#include "lms/distributed/Checkpoint2.h"

#include "lms/base/Json.h"
#include "lms/base/Text.h"
#include "lms/distributed/Assembled.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

namespace fs = std::filesystem;

namespace lms {
namespace {

constexpr const char* kTracker = "latest_checkpointed_iteration.txt";  // mindformers checkpoint/utils.py

// "[prefix-]model-0000001-0000002.safetensors" (utils.py get_checkpoint_name).
struct ShardName {
    bool model = false;
    int64_t rank = 0, ranks = 0;
};

std::optional<ShardName> parseShardName(const std::string& name) {
    static const std::regex pattern(R"(^(?:.*-)?(model|opt)-(\d{7})-(\d{7})\.safetensors$)");
    std::smatch m;
    if (!std::regex_match(name, m, pattern)) return std::nullopt;
    return ShardName{m[1] == "model", std::stoll(m[2]), std::stoll(m[3])};
}

Result<std::string> readSmallFile(const fs::path& path, uint64_t limit) {
    std::error_code ec;
    const uint64_t size = fs::file_size(path, ec);
    if (ec) return fail(ErrorCode::Io, "cannot read the file: " + ec.message(), path.string());
    if (size > limit)
        return fail(ErrorCode::Malformed, "the file is larger than " + formatBytes(limit), path.string());
    std::ifstream in(path, std::ios::binary);
    std::string text(size_t(size), '\0');
    if (!in.read(text.data(), std::streamsize(size)))
        return fail(ErrorCode::Io, "cannot read the file", path.string());
    return text;
}

// The model files of an iteration folder, indexed by rank; every rank 0..N-1 must be there.
Result<std::vector<fs::path>> modelFiles(const fs::path& dir) {
    std::map<int64_t, fs::path> byRank;
    int64_t ranks = -1;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
        const auto shard = parseShardName(entry.path().filename().string());
        if (!shard || !shard->model) continue;
        if (ranks >= 0 && shard->ranks != ranks)
            return fail(ErrorCode::Mismatch,
                        "model files of different saves (" + std::to_string(ranks) + " and " +
                            std::to_string(shard->ranks) + " ranks) in one folder",
                        entry.path().string());
        ranks = shard->ranks;
        if (!byRank.emplace(shard->rank, entry.path()).second)
            return fail(ErrorCode::Mismatch, "two model files for rank " + std::to_string(shard->rank),
                        entry.path().string());
    }
    if (ec) return fail(ErrorCode::Io, "cannot list the folder: " + ec.message(), dir.string());
    if (ranks <= 0)
        return fail(ErrorCode::NotFound, "no model-NNNNNNN-NNNNNNN.safetensors file", dir.string());
    std::vector<fs::path> files;
    for (int64_t r = 0; r < ranks; ++r) {
        auto it = byRank.find(r);
        if (it == byRank.end())
            return fail(ErrorCode::NotFound,
                        "the model file of rank " + std::to_string(r) + " of " + std::to_string(ranks) +
                            " is missing",
                        dir.string());
        files.push_back(it->second);
    }
    if (byRank.size() != files.size())
        return fail(ErrorCode::Mismatch,
                    "a model file names a rank beyond the save's " + std::to_string(ranks) + " ranks",
                    dir.string());
    return files;
}

Result<std::vector<int64_t>> intList(const JsonValue* value, const char* key, const std::string& name,
                                     const std::string& file) {
    if (!value || !value->isArray())
        return fail(ErrorCode::Malformed, std::string("metadata.json: \"") + key + "\" is not a list", file,
                    name);
    std::vector<int64_t> out;
    for (size_t i = 0; i < value->size(); ++i) {
        auto v = (*value)[i].asInt64(0);
        if (!v)
            return fail(ErrorCode::Malformed,
                        std::string("metadata.json: \"") + key +
                            "\" holds a value that is not a "
                            "non-negative integer",
                        file, name);
        out.push_back(*v);
    }
    return out;
}

struct Shards {
    fs::path dir;
    std::vector<std::shared_ptr<CheckpointFile>> files;
    std::map<std::string, size_t> byFileName;
};

// One metadata.json chunk, found in the file storage_data names for it.
Result<StoredPiece> chunkPiece(const Shards& shards, const JsonValue& storage, const std::string& name,
                               const JsonValue& chunk, std::span<const int64_t> fragments,
                               const std::string& metaPath) {
    const auto offset = intList(chunk.find("global_offset"), "global_offset", name, metaPath);
    if (!offset) return std::unexpected(offset.error());
    const auto local = intList(chunk.find("local_shape"), "local_shape", name, metaPath);
    if (!local) return std::unexpected(local.error());
    if (offset->size() != 1)
        return fail(ErrorCode::Malformed, "metadata.json: global_offset must hold one slice id", metaPath,
                    name);
    auto begin = sliceOffset((*offset)[0], fragments, *local);
    if (!begin) return fail(ErrorCode::Malformed, "metadata.json: " + begin.error().message, metaPath, name);
    // utils.py get_sharded_tensor_shard_id: str((name, (slice_id,))).
    const std::string key = "('" + name + "', (" + std::to_string((*offset)[0]) + ",))";
    const JsonValue* holders = storage.find(key);
    if (!holders || !holders->isArray() || holders->size() == 0)
        return fail(ErrorCode::Malformed, "metadata.json: storage_data has no file for slice " + key,
                    metaPath, name);
    StoredPiece piece;
    for (size_t i = 0; i < holders->size(); ++i) {
        const auto* fileName = (*holders)[i].find("file_name");
        const auto it = fileName && fileName->asString() ? shards.byFileName.find(*fileName->asString())
                                                         : shards.byFileName.end();
        if (it == shards.byFileName.end())
            return fail(ErrorCode::NotFound,
                        "metadata.json: slice " + key +
                            " is stored in a model file that is not in "
                            "the folder",
                        metaPath, name);
        const TensorInfo* info = shards.files[it->second]->find(name);
        if (!info)
            return fail(ErrorCode::NotFound, "metadata.json says this file holds the tensor, but it does not",
                        shards.files[it->second]->path(), name);
        if (i == 0)
            piece = StoredPiece{it->second, info, {}, {}};
        else
            piece.copies.push_back(it->second);
    }
    piece.box.begin = *begin;
    for (size_t d = 0; d < begin->size(); ++d) piece.box.end.push_back((*begin)[d] + (*local)[d]);
    return piece;
}

// metadata.py writes str(dtype) and reads it back case-insensitively.
bool sameTypeName(std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](char x, char y) { return std::tolower(uint8_t(x)) == std::tolower(uint8_t(y)); });
}

bool storedInModelFile(const Shards& shards, const JsonValue& storage, const std::string& name) {
    const JsonValue* holders = storage.find("('" + name + "', (0,))");
    if (!holders || holders->size() == 0) return false;
    const auto* fileName = (*holders)[0].find("file_name");
    return fileName && fileName->asString() && shards.byFileName.count(*fileName->asString());
}

Result<AssembledTensor> metadataTensor(const Shards& shards, const JsonValue& storage,
                                       const std::string& name, const JsonValue& entry,
                                       const std::string& metaPath) {
    AssembledTensor t;
    t.tensor.name = name;
    const auto* dtype = entry.find("properties") ? entry.find("properties")->find("dtype") : nullptr;
    auto shape = intList(entry.find("global_shape"), "global_shape", name, metaPath);
    if (!shape) return std::unexpected(shape.error());
    auto fragments = intList(entry.find("axis_fragmentations"), "axis_fragmentations", name, metaPath);
    if (!fragments) return std::unexpected(fragments.error());
    const auto* chunks = entry.find("chunk");
    if (!dtype || !dtype->asString() || !chunks || !chunks->isArray())
        return fail(ErrorCode::Malformed, "metadata.json: the entry lacks properties.dtype or chunk",
                    metaPath, name);
    if (fragments->size() != shape->size())
        return fail(ErrorCode::Malformed,
                    "metadata.json: axis_fragmentations and global_shape differ in length", metaPath, name);
    for (size_t i = 0; i < chunks->size(); ++i) {
        auto piece = chunkPiece(shards, storage, name, (*chunks)[i], *fragments, metaPath);
        if (!piece) return std::unexpected(piece.error());
        t.pieces.push_back(std::move(*piece));
    }
    if (t.pieces.empty())
        return fail(ErrorCode::Malformed, "metadata.json: the entry has no chunk", metaPath, name);
    const TensorInfo& first = *t.pieces.front().info;
    if (!sameTypeName(*dtype->asString(), first.typeName))
        return fail(ErrorCode::Mismatch,
                    "metadata.json says " + *dtype->asString() + " but the file stores " + first.typeName,
                    shards.files[t.pieces.front().file]->path(), name);
    t.tensor.dtype = first.dtype;
    t.tensor.typeName = first.typeName;
    t.tensor.dims = *shape;
    uint64_t elements = 1;
    for (auto d : *shape) elements *= uint64_t(d);
    t.tensor.byteSize = elements * dtypeBits(first.dtype) / 8;
    t.tensor.origin = std::to_string(t.pieces.size()) + " piece(s) of " + shards.dir.filename().string();
    return t;
}

// With metadata.json: the parameters stored in model files, in metadata order.
Result<std::vector<AssembledTensor>> tensorsFromMetadata(const Shards& shards, const fs::path& metaPath) {
    auto text = readSmallFile(metaPath, 256u << 20);
    if (!text) return std::unexpected(text.error());
    auto json = parseJson(*text);
    if (!json) return fail(ErrorCode::Malformed, "metadata.json: " + json.error().message, metaPath.string());
    const auto* dict = json->find("state_dict_metadata");
    const auto* storage = json->find("storage_data");
    if (!dict || !dict->isObject() || !storage || !storage->isObject())
        return fail(ErrorCode::Malformed, "metadata.json lacks state_dict_metadata or storage_data",
                    metaPath.string());
    std::vector<AssembledTensor> tensors;
    for (const auto& [name, entry] : *dict->asObject()) {
        if (!storedInModelFile(shards, *storage, name)) continue;  // optimizer state (an -opt- file)
        auto t = metadataTensor(shards, *storage, name, entry, metaPath.string());
        if (!t) return std::unexpected(t.error());
        tensors.push_back(std::move(*t));
    }
    return tensors;
}

// Without metadata.json (checkpoint.py: single-card saves and remove_redundancy saves write none):
// every tensor is whole; a name in two files means sharded slices that cannot be placed.
Result<std::vector<AssembledTensor>> tensorsWithoutMetadata(const Shards& shards) {
    std::map<std::string, size_t> seen;
    std::vector<AssembledTensor> tensors;
    for (size_t f = 0; f < shards.files.size(); ++f) {
        for (const auto& info : shards.files[f]->tensors()) {
            if (auto [it, fresh] = seen.emplace(info.name, f); !fresh)
                return fail(
                    ErrorCode::Mismatch,
                    "this tensor is in " + fs::path(shards.files[it->second]->path()).filename().string() +
                        " and in " + fs::path(shards.files[f]->path()).filename().string() +
                        " and the iteration has no metadata.json, so its slices cannot be placed (a sharded "
                        "or "
                        "remove_redundancy save needs the metadata.json MindFormers writes beside it)",
                    shards.dir.string(), info.name);
            AssembledTensor t;
            t.tensor = SourceTensor{info.name,     info.typeName,
                                    info.dtype,    info.dims,
                                    info.kind,     info.legacyScalar,
                                    info.byteSize, fs::path(shards.files[f]->path()).filename().string()};
            Box box;
            for (auto d : info.logicalShape()) box.begin.push_back(0), box.end.push_back(d);
            t.pieces.push_back(StoredPiece{f, &info, box, {}});
            tensors.push_back(std::move(t));
        }
    }
    return tensors;
}

}  // namespace

std::optional<int64_t> checkpoint2ShardRank(const std::string& fileName) {
    if (auto shard = parseShardName(fileName)) return shard->rank;
    return std::nullopt;
}

Result<std::vector<int64_t>> sliceOffset(int64_t sliceId, std::span<const int64_t> fragments,
                                         std::span<const int64_t> localShape) {
    if (fragments.size() != localShape.size())
        return fail(ErrorCode::Malformed, "local_shape and axis_fragmentations differ in length");
    int64_t cells = 1;
    for (auto f : fragments) {
        if (f <= 0) return fail(ErrorCode::Malformed, "axis_fragmentations holds a value below 1");
        if (__builtin_mul_overflow(cells, f, &cells))
            return fail(ErrorCode::Malformed, "axis_fragmentations overflow");
    }
    if (sliceId < 0 || sliceId >= cells)
        return fail(ErrorCode::Malformed, "slice id " + std::to_string(sliceId) + " is outside the grid of " +
                                              std::to_string(cells) + " blocks");
    std::vector<int64_t> offset(fragments.size());
    for (size_t d = fragments.size(); d-- > 0;) {
        offset[d] = (sliceId % fragments[d]) * localShape[d];
        sliceId /= fragments[d];
    }
    return offset;
}

bool looksLikeCheckpoint2(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_regular_file(dir / kTracker, ec)) return true;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (auto shard = parseShardName(entry.path().filename().string()); shard && shard->model) return true;
    return false;
}

Result<fs::path> checkpoint2IterationDir(const fs::path& dir) {
    std::error_code ec;
    if (!fs::is_regular_file(dir / kTracker, ec)) return dir;
    auto text = readSmallFile(dir / kTracker, 64);
    if (!text) return std::unexpected(text.error());
    std::istringstream in(*text);
    int64_t iteration = -1;
    std::string rest;
    if (!(in >> iteration) || iteration < 0 || (in >> rest))
        return fail(ErrorCode::Malformed, "the tracker does not hold an iteration number",
                    (dir / kTracker).string());
    char name[32];
    std::snprintf(name, sizeof name, "iteration_%08lld",
                  static_cast<long long>(iteration));  // checkpoint/utils.py
    if (!fs::is_directory(dir / name, ec))
        return fail(ErrorCode::NotFound,
                    std::string("the tracker names iteration ") + std::to_string(iteration) + " but " + name +
                        " does not exist",
                    (dir / kTracker).string());
    return dir / name;
}

Result<std::unique_ptr<ModelSource>> openCheckpoint2Source(const fs::path& dir,
                                                           std::vector<std::string>* notes,
                                                           const CancelToken* cancel) {
    auto iteration = checkpoint2IterationDir(dir);
    if (!iteration) return std::unexpected(iteration.error());
    auto paths = modelFiles(*iteration);
    if (!paths) return std::unexpected(paths.error());
    Shards shards{*iteration, {}, {}};
    for (const auto& path : *paths) {
        auto file = CheckpointFile::open(path, cancel);
        if (!file) return std::unexpected(file.error());
        shards.byFileName[path.filename().string()] = shards.files.size();
        shards.files.push_back(std::move(*file));
    }
    const fs::path metaPath = *iteration / "metadata.json";
    std::error_code ec;
    const bool hasMetadata = fs::is_regular_file(metaPath, ec);
    auto tensors = hasMetadata ? tensorsFromMetadata(shards, metaPath) : tensorsWithoutMetadata(shards);
    if (!tensors) return std::unexpected(tensors.error());
    if (notes) {
        if (*iteration != dir)
            notes->push_back("Checkpoint 2.0: the tracker names " + iteration->filename().string());
        notes->push_back(
            "Checkpoint 2.0: " + std::to_string(shards.files.size()) + " model file(s)" +
            (hasMetadata ? " reassembled through metadata.json" : " without metadata.json, tensors whole") +
            "; optimizer (-opt-) files and common.json are not part of the merged model");
    }
    const std::string description =
        "Checkpoint 2.0 " + iteration->string() + " (" + std::to_string(shards.files.size()) + " rank(s))";
    return makeAssembledSource(description, hasMetadata ? metaPath : *iteration, std::move(shards.files),
                               std::move(*tensors));
}

}  // namespace lms
