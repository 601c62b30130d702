#include "lms/formats/Strategy.h"

#include "lms/base/Json.h"
#include "lms/base/Log.h"
#include "lms/io/FileIO.h"
#include "lms/io/Wire.h"
#include "node_strategy.pb.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <system_error>
#include <unordered_map>

namespace lms {
namespace {

namespace pb = mindspore::straspb;
namespace fs = std::filesystem;

std::string joinInts(const auto& values) {
    std::string out = "[";
    for (size_t i = 0; i < values.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(values[i]);
    }
    return out + "]";
}

std::string stageListText(const std::set<uint32_t>& stages) {
    std::string out = "{";
    for (uint32_t s : stages) out += (out.size() > 1 ? ", " : "") + std::to_string(s);
    return out + "}";
}

bool endsWithIgnoringCase(std::string_view text, std::string_view suffix) {
    if (text.size() < suffix.size()) return false;
    return std::equal(
        suffix.begin(), suffix.end(), text.end() - ptrdiff_t(suffix.size()),
        [](char a, char b) { return std::tolower((unsigned char)a) == std::tolower((unsigned char)b); });
}

// ---------------------------------------------------------------- protobuf wire pre-scan

// libprotobuf files mismatching wire types under "unknown fields" and parses a .ckpt checkpoint
// (field 1 length-delimited) as an empty strategy. Walking the top level ourselves first lets
// us refuse foreign files with a clear message: only current_stage (1, varint) and the two
// repeated messages (2, 3, length-delimited) may appear there.
Status scanTopLevelFields(std::span<const std::byte> bytes, std::string_view file) {
    size_t pos = 0;
    while (pos < bytes.size()) {
        const size_t keyAt = pos;
        uint64_t key = 0;
        if (wire::decodeVarint(bytes, pos, key) != wire::VarintStatus::Ok)
            return fail(ErrorCode::Malformed, "not a parallel strategy file: truncated field key",
                        std::string(file), {}, keyAt);
        const uint64_t field = key >> 3, wireType = key & 7;
        const bool expected = (field == 1 && wireType == 0) || ((field == 2 || field == 3) && wireType == 2);
        if (!expected) {
            std::string message = "not a parallel strategy file: unexpected top-level field " +
                                  std::to_string(field) + " with wire type " + std::to_string(wireType);
            if (keyAt == 0 && key == 0x0A) message += " (this looks like a MindSpore .ckpt checkpoint)";
            return fail(ErrorCode::Malformed, message, std::string(file), {}, keyAt);
        }
        uint64_t value = 0;
        if (wire::decodeVarint(bytes, pos, value) != wire::VarintStatus::Ok)
            return fail(ErrorCode::Malformed, "truncated strategy file (varint cut off)", std::string(file),
                        {}, keyAt);
        if (wireType == 2) {
            if (value > bytes.size() - pos)
                return fail(ErrorCode::Malformed,
                            "truncated strategy file: a field of " + std::to_string(value) +
                                " bytes but only " + std::to_string(bytes.size() - pos) + " remain",
                            std::string(file), {}, keyAt);
            pos += size_t(value);
        }
    }
    return {};
}

// An unknown field whose number is declared in the schema means the wire type disagreed with
// the declaration: the bytes are not what node_strategy.proto describes. Truly unknown
// numbers (a newer MindSpore) are tolerated.
Status checkUnknownFields(const google::protobuf::Message& message, std::string_view file) {
    const auto* reflection = message.GetReflection();
    const auto* descriptor = message.GetDescriptor();
    const auto& unknown = reflection->GetUnknownFields(message);
    for (int i = 0; i < unknown.field_count(); ++i) {
        const int number = unknown.field(i).number();
        if (descriptor->FindFieldByNumber(number))
            return fail(ErrorCode::Malformed,
                        "not a parallel strategy file: field " + std::to_string(number) + " of " +
                            descriptor->name() + " has the wrong wire type",
                        std::string(file));
    }
    std::vector<const google::protobuf::FieldDescriptor*> fields;
    reflection->ListFields(message, &fields);
    for (const auto* field : fields) {
        if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
        if (field->is_repeated()) {
            for (int i = 0; i < reflection->FieldSize(message, field); ++i)
                if (auto s = checkUnknownFields(reflection->GetRepeatedMessage(message, field, i), file); !s)
                    return s;
        } else if (auto s = checkUnknownFields(reflection->GetMessage(message, field), file); !s) {
            return s;
        }
    }
    return {};
}

Result<pb::ParallelStrategyMap> parseStrategyMessage(std::span<const std::byte> bytes,
                                                     std::string_view file) {
    if (bytes.empty()) return fail(ErrorCode::Malformed, "empty strategy file", std::string(file));
    if (bytes.size() > kMaxStrategyFileBytes)
        return fail(ErrorCode::Malformed,
                    "strategy file too large (" + std::to_string(bytes.size()) + " bytes)",
                    std::string(file));
    if (auto s = scanTopLevelFields(bytes, file); !s) return std::unexpected(s.error());
    pb::ParallelStrategyMap message;
    if (!message.ParseFromArray(bytes.data(), int(bytes.size())))
        return fail(ErrorCode::Malformed, "not a parallel strategy file: the protobuf structure is invalid",
                    std::string(file));
    if (auto s = checkUnknownFields(message, file); !s) return std::unexpected(s.error());
    return message;
}

// ---------------------------------------------------------------- layout conversion

Status layoutError(std::string_view file, const std::string& parameter, std::string message) {
    return fail(ErrorCode::Malformed, std::move(message), std::string(file), parameter);
}

// Checks what every later computation relies on: device counts are positive and bounded, map
// entries name existing device axes, each axis is used at most once.
Status validateLayout(const ParamLayout& layout, std::string_view file) {
    if (layout.name.empty()) return layoutError(file, {}, "a layout item has no parameter name");
    if (layout.devMatrix.empty()) return layoutError(file, layout.name, "layout without dev_matrix");
    int64_t devices = 1;
    for (int64_t d : layout.devMatrix) {
        if (d < 1 || __builtin_mul_overflow(devices, d, &devices) || devices > kMaxDevicesPerStage)
            return layoutError(file, layout.name, "implausible dev_matrix " + layout.devMatrixText());
    }
    std::vector<bool> used(layout.devMatrix.size(), false);
    for (const auto& axes : layout.tensorMap) {
        for (int32_t m : axes) {
            if (m < 0 || size_t(m) >= layout.devMatrix.size())
                return layoutError(file, layout.name,
                                   "tensor_map " + layout.tensorMapText() +
                                       " refers to a device axis outside dev_matrix " +
                                       layout.devMatrixText());
            if (used[size_t(m)])
                return layoutError(file, layout.name,
                                   "tensor_map " + layout.tensorMapText() + " uses device axis " +
                                       std::to_string(m) + " twice");
            used[size_t(m)] = true;
        }
    }
    if (layout.optShardSize < -1)
        return layoutError(file, layout.name,
                           "opt_weight_shard_size " + std::to_string(layout.optShardSize) + " is invalid");
    if (!layout.indicesOffset.empty() && layout.indicesOffset.size() != layout.paramSplitShape.size())
        return layoutError(file, layout.name, "param_split_shape and indices_offset differ in length");
    if (!layout.globalShape.empty() && layout.globalShape.size() != layout.tensorMap.size())
        return layoutError(file, layout.name,
                           "tensor_shape " + joinInts(layout.globalShape) + " does not fit tensor_map " +
                               layout.tensorMapText());
    return {};
}

// One stored tensor-map value list -> the axes of one dimension. -1 alone means "not split".
Result<std::vector<int32_t>> dimensionAxes(std::span<const int32_t> values, std::string_view file,
                                           const std::string& name) {
    if (values.size() == 1 && values[0] == -1) return std::vector<int32_t>{};
    for (int32_t v : values)
        if (v < 0)
            return std::unexpected(
                layoutError(file, name, "tensor_map entry " + joinInts(values) + " mixes -1 with device axes")
                    .error());
    return std::vector<int32_t>(values.begin(), values.end());
}

// Flat (one TensorMap) or nested (one TensorMap per dimension, plus an empty one for 1-D
// tensors; spec §4.6) tensor maps.
Status convertTensorMap(const pb::ParallelLayouts& stored, ParamLayout& out, std::string_view file) {
    const int count = stored.tensor_map_size();
    if (count == 0) return layoutError(file, out.name, "layout without tensor_map");
    if (count == 1) {
        for (int32_t v : stored.tensor_map(0).dim()) {
            if (v < -1)
                return layoutError(file, out.name, "tensor_map value " + std::to_string(v) + " is invalid");
            out.tensorMap.push_back(v == -1 ? std::vector<int32_t>{} : std::vector<int32_t>{v});
        }
        return {};
    }
    out.nestedTensorMap = true;
    const int dims = (count == 2 && stored.tensor_map(1).dim_size() == 0) ? 1 : count;
    for (int i = 0; i < dims; ++i) {
        const auto& entry = stored.tensor_map(i).dim();
        if (entry.empty()) return layoutError(file, out.name, "nested tensor_map has an empty entry");
        auto axes =
            dimensionAxes(std::span<const int32_t>(entry.data(), size_t(entry.size())), file, out.name);
        if (!axes) return std::unexpected(axes.error());
        out.tensorMap.push_back(std::move(*axes));
    }
    return {};
}

// Whether a file is a merged pipeline strategy (spec §3): merge_pipeline_strategys renames EVERY
// layout "<stage>-<name>" and appends the operator items of every stage file, so items of one
// stage s go with prefixes of s only. A per-rank file whose parameter names merely start with
// digits and a dash is read as is.
bool isMergedPipelineStrategy(std::span<const std::string_view> names, const std::set<uint32_t>& itemStages) {
    std::set<uint32_t> prefixes;
    for (std::string_view name : names) {
        auto split = splitStagePrefix(name);
        if (!split) return false;
        prefixes.insert(split->first);
    }
    if (prefixes.empty()) return false;
    return itemStages.size() != 1 || std::ranges::includes(itemStages, prefixes);
}

// Sets name and stages from a stored name, splitting a "<stage>-" prefix when the file is merged.
void assignName(ParamLayout& layout, std::string_view storedName, bool merged) {
    auto split = merged ? splitStagePrefix(storedName) : std::nullopt;
    if (split) {
        layout.name = std::string(split->second);
        layout.stages = {split->first};
    } else {
        layout.name = std::string(storedName);
        layout.stages = {0};
    }
}

Result<ParamLayout> convertLayoutItem(const pb::ParallelLayoutItem& item, std::string_view file,
                                      bool merged) {
    ParamLayout layout;
    if (!isValidUtf8(item.param_name()))
        return fail(ErrorCode::Malformed, "a parameter name is not valid UTF-8", std::string(file));
    assignName(layout, item.param_name(), merged);
    if (!item.has_parallel_layouts())
        return std::unexpected(
            layoutError(file, layout.name, "layout item without parallel_layouts").error());
    const auto& stored = item.parallel_layouts();
    if (stored.dev_matrix_size() > 0)
        for (uint32_t d : stored.dev_matrix(0).dim()) layout.devMatrix.push_back(int64_t(d));
    if (auto s = convertTensorMap(stored, layout, file); !s) return std::unexpected(s.error());
    if (stored.param_split_shape_size() > 0)
        layout.paramSplitShape.assign(stored.param_split_shape(0).dim().begin(),
                                      stored.param_split_shape(0).dim().end());
    if (stored.indices_offset_size() > 0)
        layout.indicesOffset.assign(stored.indices_offset(0).dim().begin(),
                                    stored.indices_offset(0).dim().end());
    layout.field = stored.field();
    layout.optShardStep = stored.opt_weight_shard_step();
    layout.optShardSize = stored.opt_weight_shard_size();
    if (auto s = validateLayout(layout, file); !s) return std::unexpected(s.error());
    return layout;
}

// Collects layouts, uniting the stages of identical entries of one name. `index` maps names to
// their entries in `strategy.layouts`.
Status addLayout(Strategy& strategy, std::unordered_map<std::string, std::vector<size_t>>& index,
                 ParamLayout layout, std::string_view file) {
    auto& entries = index[layout.name];
    const uint32_t stage = layout.stages.front();
    for (size_t i : entries) {
        ParamLayout& existing = strategy.layouts[i];
        const bool sameStage = std::ranges::find(existing.stages, stage) != existing.stages.end();
        if (existing.sameLayoutAs(layout)) {
            if (!sameStage) {
                existing.stages.insert(std::ranges::upper_bound(existing.stages, stage), stage);
            }
            return {};
        }
        if (sameStage)
            return layoutError(file, layout.name,
                               "the parameter is listed twice for stage " + std::to_string(stage) +
                                   " with different layouts");
    }
    entries.push_back(strategy.layouts.size());
    strategy.layouts.push_back(std::move(layout));
    return {};
}

// Merged strategies must describe stages 0..n-1 (spec §3, _convert_to_list consumers).
Status checkStageSet(const Strategy& strategy, std::string_view file) {
    std::set<uint32_t> stages;
    for (const auto& layout : strategy.layouts) stages.insert(layout.stages.begin(), layout.stages.end());
    if (!stages.empty() && *stages.rbegin() + 1 != stages.size())
        return fail(ErrorCode::Malformed,
                    "the layout names carry pipeline stages " + stageListText(stages) +
                        ", but a merged strategy must describe every stage 0.." +
                        std::to_string(*stages.rbegin()),
                    std::string(file));
    return {};
}

Result<Strategy> strategyFromMessage(const pb::ParallelStrategyMap& message, std::string_view file) {
    Strategy strategy;
    strategy.file = std::string(file);
    strategy.format = StrategyFormat::Protobuf;
    strategy.currentStage = message.current_stage();
    strategy.operatorItemCount = size_t(message.parallel_strategy_item_size());
    strategy.layoutItemCount = size_t(message.parallel_layout_item_size());
    if (message.parallel_strategy_item_size() > 0)
        strategy.firstOperatorStage = message.parallel_strategy_item(0).parallel_strategys().stage();
    if (strategy.layoutItemCount == 0)
        return fail(ErrorCode::Malformed,
                    "the strategy file has no parallel layout items (not a strategy file?)",
                    std::string(file));
    std::vector<std::string_view> names;
    for (const auto& item : message.parallel_layout_item()) names.push_back(item.param_name());
    std::set<uint32_t> itemStages;
    for (const auto& item : message.parallel_strategy_item())
        itemStages.insert(item.parallel_strategys().stage());
    strategy.stagePrefixed = isMergedPipelineStrategy(names, itemStages);
    std::unordered_map<std::string, std::vector<size_t>> index;
    for (const auto& item : message.parallel_layout_item()) {
        auto layout = convertLayoutItem(item, file, strategy.stagePrefixed);
        if (!layout) return std::unexpected(layout.error());
        if (auto s = addLayout(strategy, index, std::move(*layout), file); !s)
            return std::unexpected(s.error());
    }
    if (auto s = checkStageSet(strategy, file); !s) return std::unexpected(s.error());
    return strategy;
}

// ---------------------------------------------------------------- JSON strategies (spec §2.3)

Status jsonError(std::string_view file, const std::string& parameter, const std::string& message) {
    return fail(ErrorCode::Malformed, message, std::string(file), parameter);
}

// A JSON integer list, or for tensor maps also a list whose entries are lists (nested maps).
Result<std::vector<int64_t>> jsonIntList(const JsonValue* value, std::string_view what, std::string_view file,
                                         const std::string& name, int64_t min, int64_t max) {
    if (!value || !value->isArray())
        return std::unexpected(
            jsonError(file, name, std::string(what) + " must be a list of integers").error());
    std::vector<int64_t> out;
    for (size_t i = 0; i < value->size(); ++i) {
        auto n = (*value)[i].asInt64(min, max);
        if (!n)
            return std::unexpected(
                jsonError(file, name, std::string(what) + ": " + n.error().message).error());
        out.push_back(*n);
    }
    return out;
}

Status jsonTensorMap(const JsonValue* value, ParamLayout& layout, std::string_view file) {
    if (!value || !value->isArray()) return jsonError(file, layout.name, "tensor_map must be a list");
    for (size_t i = 0; i < value->size(); ++i) {
        const JsonValue& entry = (*value)[i];
        if (entry.isArray()) {
            layout.nestedTensorMap = true;
            auto axes = jsonIntList(&entry, "tensor_map", file, layout.name, -1, INT32_MAX);
            if (!axes) return std::unexpected(axes.error());
            std::vector<int32_t> narrow(axes->begin(), axes->end());
            auto dim = dimensionAxes(narrow, file, layout.name);
            if (!dim) return std::unexpected(dim.error());
            layout.tensorMap.push_back(std::move(*dim));
            continue;
        }
        auto m = entry.asInt64(-1, INT32_MAX);
        if (!m) return jsonError(file, layout.name, "tensor_map: " + m.error().message);
        layout.tensorMap.push_back(*m == -1 ? std::vector<int32_t>{} : std::vector<int32_t>{int32_t(*m)});
    }
    return {};
}

Result<int32_t> jsonInt32(const JsonValue& object, std::string_view key, std::string_view file,
                          const std::string& name) {
    const JsonValue* value = object.find(key);
    if (!value) return 0;  // absent in older files: 0, as for protobuf
    auto n = value->asInt64(INT32_MIN, INT32_MAX);
    if (!n)
        return std::unexpected(jsonError(file, name, std::string(key) + ": " + n.error().message).error());
    return int32_t(*n);
}

Result<ParamLayout> jsonLayout(std::string_view storedName, const JsonValue& entry, std::string_view file,
                               bool merged) {
    ParamLayout layout;
    assignName(layout, storedName, merged);
    if (!entry.isObject())
        return std::unexpected(jsonError(file, layout.name, "layout entry must be an object").error());
    auto dev = jsonIntList(entry.find("dev_matrix"), "dev_matrix", file, layout.name, 1, kMaxDevicesPerStage);
    if (!dev) return std::unexpected(dev.error());
    layout.devMatrix = std::move(*dev);
    if (auto s = jsonTensorMap(entry.find("tensor_map"), layout, file); !s) return std::unexpected(s.error());
    if (const JsonValue* shape = entry.find("tensor_shape")) {
        auto n = jsonIntList(shape, "tensor_shape", file, layout.name, 0, INT64_MAX);
        if (!n) return std::unexpected(n.error());
        layout.globalShape = std::move(*n);
    }
    for (auto [key, target] :
         {std::pair{"field", &layout.field}, std::pair{"opt_weight_shard_step", &layout.optShardStep},
          std::pair{"opt_weight_shard_size", &layout.optShardSize}}) {
        auto n = jsonInt32(entry, key, file, layout.name);
        if (!n) return std::unexpected(n.error());
        *target = *n;
    }
    if (entry.contains("param_split_shape") && entry.contains("indices_offset")) {
        auto pss = jsonIntList(entry.find("param_split_shape"), "param_split_shape", file, layout.name,
                               INT64_MIN, INT64_MAX);
        auto ioff = jsonIntList(entry.find("indices_offset"), "indices_offset", file, layout.name, INT64_MIN,
                                INT64_MAX);
        if (!pss) return std::unexpected(pss.error());
        if (!ioff) return std::unexpected(ioff.error());
        layout.paramSplitShape = std::move(*pss);
        layout.indicesOffset = std::move(*ioff);
    }
    if (auto s = validateLayout(layout, file); !s) return std::unexpected(s.error());
    return layout;
}

Result<Strategy> strategyFromJson(const JsonValue& root, std::string_view file) {
    if (!root.isObject())
        return fail(ErrorCode::Malformed, "a JSON strategy must be an object", std::string(file));
    Strategy strategy;
    strategy.file = std::string(file);
    strategy.format = StrategyFormat::Json;
    if (const JsonValue* stage = root.find("current_stage")) {
        auto n = stage->asInt64(0, UINT32_MAX);
        if (!n) return fail(ErrorCode::Malformed, "current_stage: " + n.error().message, std::string(file));
        strategy.currentStage = uint32_t(*n);
    }
    std::set<uint32_t> itemStages;
    if (const JsonValue* items = root.find("parallel_strategy_item")) {
        const auto* members = items->asObject();
        if (!members)
            return fail(ErrorCode::Malformed, "parallel_strategy_item must be an object", std::string(file));
        strategy.operatorItemCount = members->size();
        for (const auto& [node, item] : *members)
            if (const JsonValue* stage = item.find("stage"); stage && stage->asInt64(0, UINT32_MAX))
                itemStages.insert(uint32_t(*stage->asInt64(0, UINT32_MAX)));
        if (!members->empty()) {
            const JsonValue* stage = members->front().second.find("stage");
            if (!stage || !stage->asInt64(0, UINT32_MAX))
                return fail(ErrorCode::Malformed,
                            "strategy item '" + members->front().first + "' has no valid stage",
                            std::string(file));
            strategy.firstOperatorStage = uint32_t(*stage->asInt64());
        }
    }
    const JsonValue* layouts = root.find("parallel_layout_item");
    const auto* members = layouts ? layouts->asObject() : nullptr;
    if (!members || members->empty())
        return fail(ErrorCode::Malformed, "the strategy file has no parallel_layout_item entries",
                    std::string(file));
    strategy.layoutItemCount = members->size();
    std::vector<std::string_view> names;
    for (const auto& [name, entry] : *members) names.push_back(name);
    strategy.stagePrefixed = isMergedPipelineStrategy(names, itemStages);
    std::unordered_map<std::string, std::vector<size_t>> index;
    for (const auto& [name, entry] : *members) {
        auto layout = jsonLayout(name, entry, file, strategy.stagePrefixed);
        if (!layout) return std::unexpected(layout.error());
        if (auto s = addLayout(strategy, index, std::move(*layout), file); !s)
            return std::unexpected(s.error());
    }
    if (auto s = checkStageSet(strategy, file); !s) return std::unexpected(s.error());
    return strategy;
}

// ---------------------------------------------------------------- files and folders

Result<std::string> readWholeFile(const fs::path& path) {
    auto file = InputFile::open(path);
    if (!file) return std::unexpected(file.error());
    if (file->size() > kMaxStrategyFileBytes)
        return fail(ErrorCode::Malformed,
                    "strategy file too large (" + std::to_string(file->size()) + " bytes; the limit is " +
                        std::to_string(kMaxStrategyFileBytes) + ")",
                    path.string());
    std::string bytes(size_t(file->size()), '\0');
    auto span = std::as_writable_bytes(std::span<char>(bytes));
    if (auto s = file->readAt(0, span); !s) return std::unexpected(s.error());
    return bytes;
}

StrategyFormat detectFormat(std::string_view name, std::string_view bytes) {
    if (endsWithIgnoringCase(name, ".json")) return StrategyFormat::Json;
    const size_t first = bytes.find_first_not_of(" \t\r\n");
    return (first != std::string_view::npos && bytes[first] == '{') ? StrategyFormat::Json
                                                                    : StrategyFormat::Protobuf;
}

std::span<const std::byte> asBytes(std::string_view text) {
    return std::as_bytes(std::span(text.data(), text.size()));
}

struct StageFiles {
    std::vector<fs::path> files;  // sorted by name
    StrategyFormat format = StrategyFormat::Protobuf;
};

// *.ckpt or *.json strategy files directly inside `dir`, merged files excluded.
Result<StageFiles> listStageFiles(const fs::path& dir) {
    std::error_code ec;
    fs::directory_iterator it(dir, ec);
    if (ec) return fail(ErrorCode::Io, "cannot list the strategy folder: " + ec.message(), dir.string());
    std::vector<fs::path> ckpt, json;
    for (const auto& entry : it) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_regular_file(ec) || isMergedStrategyFileName(name)) continue;
        if (endsWithIgnoringCase(name, ".ckpt")) ckpt.push_back(entry.path());
        if (endsWithIgnoringCase(name, ".json")) json.push_back(entry.path());
    }
    if (!ckpt.empty() && !json.empty())
        return fail(ErrorCode::InvalidArgument, "the strategy folder mixes .ckpt and .json strategy files",
                    dir.string());
    StageFiles out;
    out.format = json.empty() ? StrategyFormat::Protobuf : StrategyFormat::Json;
    out.files = json.empty() ? std::move(ckpt) : std::move(json);
    std::ranges::sort(out.files,
                      [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
    return out;
}

// The stage a per-rank file belongs to, refusing files the merge cannot use.
Result<uint32_t> stageOfFile(const Strategy& parsed, const fs::path& path) {
    if (!parsed.firstOperatorStage)
        return fail(ErrorCode::Malformed,
                    "the strategy file has no strategy items, so its pipeline stage is unknown",
                    path.string());
    if (parsed.stagePrefixed)
        return fail(
            ErrorCode::InvalidArgument,
            "this file is already a merged strategy (names carry '<stage>-' prefixes); pass it as the "
            "strategy file instead of its folder",
            path.string());
    return *parsed.firstOperatorStage;
}

Status checkMergedStages(const std::set<uint32_t>& stages, const fs::path& dir) {
    if (*stages.rbegin() + 1 == stages.size()) return {};
    return fail(ErrorCode::Mismatch,
                "the per-rank strategy files cover pipeline stages " + stageListText(stages) +
                    ", but stages 0.." + std::to_string(*stages.rbegin()) +
                    " are needed: the files of a stage are missing",
                dir.string());
}

// The stage of one per-rank strategy file of a folder; empty (the file listed as skipped) when an
// earlier file already gave that stage, as merge_pipeline_strategys keeps one file per stage.
Result<std::optional<uint32_t>> admitStageFile(const Strategy& parsed, const fs::path& path,
                                               std::set<uint32_t>& stages, MergedStrategy& merged) {
    auto stage = stageOfFile(parsed, path);
    if (!stage) return std::unexpected(stage.error());
    if (!stages.insert(*stage).second) {
        merged.skippedFiles.push_back(path.filename().string());
        return std::optional<uint32_t>{};
    }
    merged.stageFiles.push_back(path.filename().string());
    return std::optional<uint32_t>{*stage};
}

Result<MergedStrategy> mergeProtobufFolder(const fs::path& dir, const std::vector<fs::path>& files) {
    MergedStrategy merged;
    pb::ParallelStrategyMap out;
    std::set<uint32_t> stages;
    for (const auto& path : files) {
        auto bytes = readWholeFile(path);
        if (!bytes) return std::unexpected(bytes.error());
        auto message = parseStrategyMessage(asBytes(*bytes), path.string());
        if (!message) return std::unexpected(message.error());
        auto parsed = strategyFromMessage(*message, path.string());
        if (!parsed) return std::unexpected(parsed.error());
        auto stage = admitStageFile(*parsed, path, stages, merged);
        if (!stage) return std::unexpected(stage.error());
        if (!*stage) continue;
        for (const auto& item : message->parallel_strategy_item()) *out.add_parallel_strategy_item() = item;
        for (const auto& item : message->parallel_layout_item()) {
            auto* added = out.add_parallel_layout_item();
            *added = item;
            added->set_param_name(std::to_string(**stage) + "-" + item.param_name());
        }
    }
    if (auto s = checkMergedStages(stages, dir); !s) return std::unexpected(s.error());
    out.set_current_stage(1);
    if (!out.SerializeToString(&merged.bytes))
        return fail(ErrorCode::Io, "cannot serialize the merged strategy", dir.string());
    merged.format = StrategyFormat::Protobuf;
    auto strategy =
        parseStrategy(asBytes(merged.bytes), (dir / kMergedStrategyFileName).string(), merged.format);
    if (!strategy) return std::unexpected(strategy.error());
    merged.strategy = std::move(*strategy);
    merged.strategy.file.clear();
    return merged;
}

Result<MergedStrategy> mergeJsonFolder(const fs::path& dir, const std::vector<fs::path>& files) {
    MergedStrategy merged;
    JsonValue items = JsonValue::object(), layouts = JsonValue::object();
    std::set<uint32_t> stages;
    for (const auto& path : files) {
        auto bytes = readWholeFile(path);
        if (!bytes) return std::unexpected(bytes.error());
        auto root = parseJson(*bytes);
        if (!root) {
            Error error = root.error();
            error.file = path.string();
            return std::unexpected(error);
        }
        auto parsed = strategyFromJson(*root, path.string());
        if (!parsed) return std::unexpected(parsed.error());
        auto stage = admitStageFile(*parsed, path, stages, merged);
        if (!stage) return std::unexpected(stage.error());
        if (!*stage) continue;
        for (const auto& [node, value] : *root->find("parallel_strategy_item")->asObject())
            items.set(node, value);
        for (const auto& [name, value] : *root->find("parallel_layout_item")->asObject())
            layouts.set(std::to_string(**stage) + "-" + name, value);
    }
    if (auto s = checkMergedStages(stages, dir); !s) return std::unexpected(s.error());
    JsonValue root = JsonValue::object();
    root.set("current_stage", 1);
    root.set("parallel_strategy_item", std::move(items));
    root.set("parallel_layout_item", std::move(layouts));
    merged.bytes = toJson(root);
    merged.format = StrategyFormat::Json;
    auto strategy = strategyFromJson(root, (dir / kMergedJsonStrategyFileName).string());
    if (!strategy) return std::unexpected(strategy.error());
    merged.strategy = std::move(*strategy);
    merged.strategy.file.clear();
    return merged;
}

bool hasFile(const fs::path& path) {
    std::error_code ec;
    return fs::is_regular_file(path, ec);
}

// Writes the merged strategy into the folder, or into `fallbackDir` when the folder refuses.
Result<fs::path> writeMergedStrategy(const MergedStrategy& merged, const fs::path& dir,
                                     const fs::path& fallbackDir, std::vector<std::string>* notes) {
    const fs::path target = dir / merged.defaultFileName();
    auto written = isWritableFolder(dir)
                       ? writeStrategyBytes(target, merged.bytes)
                       : Status(fail(ErrorCode::Io, "the folder is read-only", dir.string()));
    if (written) return target;
    if (fallbackDir.empty()) {
        Error error = written.error();
        error.message = "cannot write the merged strategy into the strategy folder (" + error.message +
                        "); make the folder writable or pass the merged strategy file instead";
        return std::unexpected(error);
    }
    std::error_code ec;
    fs::create_directories(fallbackDir, ec);
    const fs::path fallback = fallbackDir / merged.defaultFileName();
    if (auto s = writeStrategyBytes(fallback, merged.bytes); !s) return std::unexpected(s.error());
    if (notes)
        notes->push_back("the strategy folder " + dir.string() + " is not writable (" +
                         written.error().message + "), so the merged strategy was written to " +
                         fallback.string() + " instead");
    return fallback;
}

}  // namespace

// ---------------------------------------------------------------- public API

bool ParamLayout::sameLayoutAs(const ParamLayout& other) const {
    return devMatrix == other.devMatrix && tensorMap == other.tensorMap &&
           nestedTensorMap == other.nestedTensorMap && field == other.field &&
           optShardStep == other.optShardStep && optShardSize == other.optShardSize &&
           paramSplitShape == other.paramSplitShape && indicesOffset == other.indicesOffset;
}

std::string ParamLayout::tensorMapText() const {
    std::string out = "[";
    for (size_t i = 0; i < tensorMap.size(); ++i) {
        if (i) out += ", ";
        const auto& axes = tensorMap[i];
        if (axes.empty())
            out += "-1";
        else if (axes.size() == 1 && !nestedTensorMap)
            out += std::to_string(axes[0]);
        else
            out += joinInts(axes);
    }
    return out + "]";
}

std::string ParamLayout::devMatrixText() const {
    return joinInts(devMatrix);
}

std::vector<const ParamLayout*> Strategy::find(std::string_view name) const {
    std::vector<const ParamLayout*> out;
    for (const auto& layout : layouts)
        if (layout.name == name) out.push_back(&layout);
    std::ranges::sort(out, {}, [](const ParamLayout* l) { return l->stages.front(); });
    return out;
}

uint32_t Strategy::stageCount() const {
    uint32_t count = 0;
    for (const auto& layout : layouts) count = std::max(count, layout.stages.back() + 1);
    return count;
}

int64_t Strategy::devicesPerStage() const {
    if (layouts.empty()) return 0;
    int64_t devices = 1;
    for (int64_t d : layouts.front().devMatrix) devices *= d;  // bounded by validateLayout
    return devices;
}

size_t Strategy::parameterCount() const {
    std::set<std::string_view> names;
    for (const auto& layout : layouts) names.insert(layout.name);
    return names.size();
}

std::optional<std::pair<uint32_t, std::string_view>> splitStagePrefix(std::string_view name) {
    const size_t dash = name.find('-');
    if (dash == 0 || dash == std::string_view::npos || dash > 9 || dash + 1 == name.size())
        return std::nullopt;
    uint32_t stage = 0;
    for (char c : name.substr(0, dash)) {
        if (c < '0' || c > '9') return std::nullopt;
        stage = stage * 10 + uint32_t(c - '0');
    }
    return std::pair{stage, name.substr(dash + 1)};
}

bool isMergedStrategyFileName(std::string_view fileName) {
    return fileName.starts_with("merged_ckpt_strategy") &&
           (endsWithIgnoringCase(fileName, ".ckpt") || endsWithIgnoringCase(fileName, ".json"));
}

Result<Strategy> parseStrategy(std::span<const std::byte> bytes, std::string_view fileName,
                               StrategyFormat format) {
    if (format == StrategyFormat::Json) {
        if (bytes.size() > kMaxStrategyFileBytes)
            return fail(ErrorCode::Malformed, "strategy file too large", std::string(fileName));
        auto root = parseJson(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
        if (!root) {
            Error error = root.error();
            error.file = std::string(fileName);
            error.message = "not a JSON strategy file: " + error.message;
            return std::unexpected(error);
        }
        return strategyFromJson(*root, fileName);
    }
    auto message = parseStrategyMessage(bytes, fileName);
    if (!message) return std::unexpected(message.error());
    return strategyFromMessage(*message, fileName);
}

Result<Strategy> readStrategyFile(const fs::path& path) {
    auto bytes = readWholeFile(path);
    if (!bytes) return std::unexpected(bytes.error());
    const std::string name = path.filename().string();
    auto strategy = parseStrategy(asBytes(*bytes), path.string(), detectFormat(name, *bytes));
    if (strategy)
        log().debug("strategy {}: {} layout items, {} stage(s), {} devices per stage", path.string(),
                    strategy->layoutItemCount, strategy->stageCount(), strategy->devicesPerStage());
    return strategy;
}

std::string_view MergedStrategy::defaultFileName() const {
    return format == StrategyFormat::Json ? kMergedJsonStrategyFileName : kMergedStrategyFileName;
}

Result<MergedStrategy> mergeStrategyFolder(const fs::path& dir) {
    auto listed = listStageFiles(dir);
    if (!listed) return std::unexpected(listed.error());
    if (listed->files.empty())
        return fail(ErrorCode::NotFound,
                    "no per-rank strategy files (*.ckpt or *.json) in the strategy folder", dir.string());
    return listed->format == StrategyFormat::Json ? mergeJsonFolder(dir, listed->files)
                                                  : mergeProtobufFolder(dir, listed->files);
}

Status writeStrategyBytes(const fs::path& path, std::string_view bytes) {
    auto out = AtomicOutputFile::create(path);
    if (!out) return std::unexpected(out.error());
    if (auto s = out->write(asBytes(bytes)); !s) return s;
    return out->commit();
}

bool isWritableFolder(const fs::path& dir) {
    struct stat info {};
    return ::access(dir.c_str(), W_OK) == 0 && ::stat(dir.c_str(), &info) == 0 && S_ISDIR(info.st_mode) &&
           (info.st_mode & 0222) != 0;
}

Result<Strategy> loadStrategyArgument(const fs::path& fileOrDir, const fs::path& fallbackDir,
                                      std::vector<std::string>* notes, bool writeMerged) {
    if (fileOrDir.empty())
        return fail(ErrorCode::InvalidArgument,
                    "a distributed checkpoint needs its parallel strategy file or folder");
    std::error_code ec;
    const auto status = fs::status(fileOrDir, ec);
    if (!fs::exists(status))
        return fail(ErrorCode::NotFound, "the strategy file or folder does not exist", fileOrDir.string());
    if (!fs::is_directory(status)) return readStrategyFile(fileOrDir);

    auto listed = listStageFiles(fileOrDir);
    if (!listed) return std::unexpected(listed.error());
    if (listed->files.empty()) {
        for (auto name : {kMergedStrategyFileName, kMergedJsonStrategyFileName}) {
            if (!hasFile(fileOrDir / name)) continue;
            if (notes)
                notes->push_back("the strategy folder " + fileOrDir.string() +
                                 " holds no per-rank strategy files; using its " + std::string(name));
            return readStrategyFile(fileOrDir / name);
        }
    }
    auto merged = mergeStrategyFolder(fileOrDir);
    if (!merged) return std::unexpected(merged.error());
    if (!writeMerged) {  // no side effects: only a merge writes merged_ckpt_strategy.ckpt
        if (notes)
            notes->push_back("merged the pipeline strategy files of " + fileOrDir.string() + " (" +
                             std::to_string(merged->stageFiles.size()) +
                             " stage files) in memory; nothing was written");
        Strategy strategy = std::move(merged->strategy);
        strategy.file = fileOrDir.string();
        return strategy;
    }
    auto target = writeMergedStrategy(*merged, fileOrDir, fallbackDir, notes);
    if (!target) return std::unexpected(target.error());
    if (notes) {
        std::string used;
        for (const auto& name : merged->stageFiles) used += (used.empty() ? "" : ", ") + name;
        notes->push_back("merged the pipeline strategy files of " + fileOrDir.string() +
                         " (one per stage: " + used + ") into " + target->string());
    }
    Strategy strategy = std::move(merged->strategy);
    strategy.file = target->string();
    return strategy;
}

}  // namespace lms
