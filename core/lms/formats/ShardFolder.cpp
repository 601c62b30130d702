#include "lms/formats/ShardFolder.h"

#include "lms/base/Json.h"
#include "lms/base/Text.h"
#include "lms/distributed/Assembled.h"

#include <fstream>
#include <map>
#include <set>

namespace fs = std::filesystem;

namespace lms {
namespace {

constexpr const char* kHyperParams = "hyper_param.safetensors";

Result<JsonValue> readJsonFile(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(ErrorCode::Io, "cannot open the file", path.string());
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto json = parseJson(text);
    if (!json) {
        auto error = json.error();
        error.file = path.string();
        return std::unexpected(error);
    }
    return json;
}

// {name: file} from either map form (data.get("weight_map", data)), files kept inside the folder.
Result<std::vector<std::pair<std::string, std::string>>> weightMap(const JsonValue& index,
                                                                   const fs::path& indexPath) {
    const JsonValue* map = index.find("weight_map") ? index.find("weight_map") : &index;
    if (!map->isObject())
        return fail(ErrorCode::Malformed, "the weight map is not an object", indexPath.string());
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [name, file] : *map->asObject()) {
        if (map == &index && name == "metadata" && file.isObject()) continue;
        const std::string* fileName = file.asString();
        if (!fileName)
            return fail(ErrorCode::Malformed, "the map gives no file name", indexPath.string(), name);
        if (fileName->empty() || fileName->find('/') != std::string::npos || *fileName == "." ||
            *fileName == "..")
            return fail(ErrorCode::Malformed, "the map names a file outside the folder: " + *fileName,
                        indexPath.string(), name);
        out.emplace_back(name, *fileName);
    }
    if (out.empty()) return fail(ErrorCode::Malformed, "the weight map is empty", indexPath.string());
    return out;
}

struct Folder {
    fs::path dir;
    std::vector<std::shared_ptr<CheckpointFile>> files;
    std::map<std::string, size_t> byName;  // file name -> index in files
};

Status openShards(Folder& folder, const std::set<std::string>& mapped, const fs::path& indexPath,
                  const CancelToken* cancel) {
    std::set<std::string> present;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(folder.dir, ec))
        if (entry.path().extension() == ".safetensors") present.insert(entry.path().filename().string());
    if (ec) return fail(ErrorCode::Io, "cannot list the folder: " + ec.message(), folder.dir.string());
    for (const auto& name : mapped) {
        if (!present.count(name))
            return fail(ErrorCode::NotFound, "the index names " + name + ", which is not in the folder",
                        indexPath.string());
    }
    for (const auto& name : present)
        if (!mapped.count(name) && name != kHyperParams)
            return fail(ErrorCode::Mismatch, "the folder holds " + name + ", which the index does not name",
                        indexPath.string());
    for (const auto& name : present) {
        auto file = CheckpointFile::open(folder.dir / name, cancel);
        if (!file) return std::unexpected(file.error());
        folder.byName[name] = folder.files.size();
        folder.files.push_back(std::move(*file));
    }
    return {};
}

AssembledTensor wholeTensor(const Folder& folder, size_t file, const TensorInfo& info) {
    AssembledTensor t;
    t.tensor = SourceTensor{info.name,     info.typeName,
                            info.dtype,    info.dims,
                            info.kind,     info.legacyScalar,
                            info.byteSize, fs::path(folder.files[file]->path()).filename().string()};
    Box box;
    for (auto d : info.logicalShape()) box.begin.push_back(0), box.end.push_back(d);
    t.pieces.push_back(StoredPiece{file, &info, box, {}});
    return t;
}

// Each shard's tensors in data order; each must be where the map puts it, and only there.
Result<std::vector<AssembledTensor>> mappedTensors(
    const Folder& folder, const std::vector<std::pair<std::string, std::string>>& map,
    const fs::path& indexPath) {
    std::map<std::string, std::string> fileOf(map.begin(), map.end());
    std::vector<AssembledTensor> tensors;
    std::set<std::string> found;
    for (size_t f = 0; f < folder.files.size(); ++f) {
        const std::string fileName = fs::path(folder.files[f]->path()).filename().string();
        for (const auto& info : folder.files[f]->tensors()) {
            const auto it = fileOf.find(info.name);
            const bool hyper = fileName == kHyperParams && it == fileOf.end();
            if (!hyper && (it == fileOf.end() || it->second != fileName))
                return fail(ErrorCode::Mismatch,
                            it == fileOf.end()
                                ? "the tensor is not in the index"
                                : "the index puts this tensor in " + it->second + ", but it is (also) here",
                            folder.files[f]->path(), info.name);
            if (!found.insert(info.name).second)
                return fail(ErrorCode::Mismatch, "the tensor is stored twice", folder.files[f]->path(),
                            info.name);
            tensors.push_back(wholeTensor(folder, f, info));
        }
    }
    for (const auto& [name, file] : map)
        if (!found.count(name))
            return fail(ErrorCode::NotFound,
                        "the index puts this tensor in " + file + ", but that file does not hold it",
                        indexPath.string(), name);
    return tensors;
}

}  // namespace

fs::path shardIndexFile(const fs::path& dir) {
    std::error_code ec;
    for (const char* name : {"model.safetensors.index.json", "param_name_map.json"})
        if (fs::is_regular_file(dir / name, ec)) return dir / name;
    return {};
}

Result<std::unique_ptr<ModelSource>> openShardFolderSource(const fs::path& dir,
                                                           std::vector<std::string>* notes,
                                                           const CancelToken* cancel) {
    const fs::path indexPath = shardIndexFile(dir);
    if (indexPath.empty())
        return fail(ErrorCode::NotFound, "no model.safetensors.index.json or param_name_map.json",
                    dir.string());
    auto index = readJsonFile(indexPath);
    if (!index) return std::unexpected(index.error());
    auto map = weightMap(*index, indexPath);
    if (!map) return std::unexpected(map.error());
    std::set<std::string> mapped;
    for (const auto& entry : *map) mapped.insert(entry.second);
    Folder folder{dir, {}, {}};
    if (auto st = openShards(folder, mapped, indexPath, cancel); !st) return std::unexpected(st.error());
    auto tensors = mappedTensors(folder, *map, indexPath);
    if (!tensors) return std::unexpected(tensors.error());
    // Hyper parameters last, as MindSpore's loader appends them.
    std::stable_partition(tensors->begin(), tensors->end(),
                          [](const AssembledTensor& t) { return t.tensor.origin != kHyperParams; });
    if (notes)
        notes->push_back("shard folder: " + std::to_string(folder.files.size()) + " file(s) listed by " +
                         indexPath.filename().string());
    const std::string description =
        "shard folder " + dir.string() + " (" + std::to_string(folder.files.size()) + " files)";
    return makeAssembledSource(description, indexPath, std::move(folder.files), std::move(*tensors));
}

}  // namespace lms
