// `loramerge strategy merge DIR [-o FILE]` and `loramerge strategy show FILE|DIR [--json] [--ckpt
// MODEL_DIR]`.
#include "Args.h"
#include "Cli.h"

#include "lms/base/Json.h"
#include "lms/base/Text.h"
#include "lms/distributed/Distributed.h"
#include "lms/distributed/Layout.h"
#include "lms/formats/Strategy.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

namespace cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStrategyUsage =
    "strategy merge DIR [-o FILE] | strategy show FILE|DIR [--json] [--ckpt MODEL_DIR]";

// What `show` knows about one layout entry beyond the strategy itself.
struct Shapes {
    std::vector<int64_t> full;            // empty when unknown
    std::vector<lms::SlicePiece> pieces;  // global ranks
};

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
}

std::string stagesText(const lms::ParamLayout& layout) {
    std::string out;
    for (uint32_t s : layout.stages) out += (out.empty() ? "" : ",") + std::to_string(s);
    return out;
}

std::string optShardText(const lms::ParamLayout& layout) {
    if (!layout.optShardActive()) return "-";
    auto k = lms::optShardPieces(layout);
    return "step " + std::to_string(layout.optShardStep) + ", size " + std::to_string(layout.optShardSize) +
           (k ? " (" + std::to_string(*k) + " pieces)" : " (invalid)");
}

// The full shape from JSON's tensor_shape or from the opened rank files, and the pieces.
std::optional<Shapes> shapesOf(const lms::ParamLayout& layout, const std::vector<int64_t>* fromCheckpoint) {
    Shapes shapes;
    shapes.full = fromCheckpoint ? *fromCheckpoint : layout.globalShape;
    if (shapes.full.empty() && !layout.tensorMap.empty()) return std::nullopt;
    auto pieces = lms::globalSlicePieces(layout, shapes.full);
    if (!pieces) return std::nullopt;
    shapes.pieces = std::move(*pieces);
    return shapes;
}

lms::JsonValue intsJson(const auto& values) {
    lms::JsonValue array = lms::JsonValue::array();
    for (auto v : values) array.push_back(int64_t(v));
    return array;
}

lms::JsonValue tensorMapJson(const lms::ParamLayout& layout) {
    lms::JsonValue array = lms::JsonValue::array();
    for (const auto& axes : layout.tensorMap) {
        if (axes.empty())
            array.push_back(-1);
        else if (axes.size() == 1 && !layout.nestedTensorMap)
            array.push_back(axes.front());
        else
            array.push_back(intsJson(axes));
    }
    return array;
}

lms::JsonValue layoutJson(const lms::ParamLayout& layout, const std::optional<Shapes>& shapes) {
    lms::JsonValue item = lms::JsonValue::object();
    item.set("name", layout.name);
    item.set("stages", intsJson(layout.stages));
    item.set("dev_matrix", intsJson(layout.devMatrix));
    item.set("tensor_map", tensorMapJson(layout));
    item.set("opt_weight_shard_step", layout.optShardStep);
    item.set("opt_weight_shard_size", layout.optShardSize);
    if (auto k = lms::optShardPieces(layout)) item.set("opt_shard_pieces", *k);
    item.set("field", layout.field);
    if (layout.hasManualSplit()) {
        item.set("param_split_shape", intsJson(layout.paramSplitShape));
        item.set("indices_offset", intsJson(layout.indicesOffset));
    }
    if (!shapes) return item;
    item.set("full_shape", intsJson(shapes->full));
    if (!shapes->pieces.empty()) item.set("slice_shape", intsJson(shapes->pieces.front().box.shape()));
    lms::JsonValue slices = lms::JsonValue::array();
    for (const auto& piece : shapes->pieces) {
        lms::JsonValue box = lms::JsonValue::array();
        for (size_t d = 0; d < piece.box.begin.size(); ++d)
            box.push_back(intsJson(std::vector{piece.box.begin[d], piece.box.end[d]}));
        lms::JsonValue entry = lms::JsonValue::object();
        entry.set("box", std::move(box));
        entry.set("ranks", intsJson(piece.ranks));
        slices.push_back(std::move(entry));
    }
    item.set("slices", std::move(slices));
    return item;
}

void printLayout(const lms::ParamLayout& layout, const std::optional<Shapes>& shapes) {
    std::printf("%s\n  stages %s  dev_matrix %s  tensor_map %s  opt shard %s%s%s\n", layout.name.c_str(),
                stagesText(layout).c_str(), layout.devMatrixText().c_str(), layout.tensorMapText().c_str(),
                optShardText(layout).c_str(),
                layout.field ? ("  field " + std::to_string(layout.field)).c_str() : "",
                layout.hasManualSplit() ? "  manual split" : "");
    if (!shapes) return;
    std::printf("  full %s", lms::formatDims(shapes->full, ", ").c_str());
    if (!shapes->pieces.empty())
        std::printf(" -> slice %s per rank",
                    lms::formatDims(shapes->pieces.front().box.shape(), ", ").c_str());
    std::printf("\n");
    for (const auto& piece : shapes->pieces) {
        std::string ranks;
        for (int64_t r : piece.ranks) ranks += (ranks.empty() ? "" : ",") + std::to_string(r);
        std::printf("    %s  ranks %s\n", piece.box.text().c_str(), ranks.c_str());
    }
}

// The strategy to show: a file, or a folder merged in memory (nothing is written).
lms::Result<lms::Strategy> strategyToShow(const fs::path& path) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) return lms::readStrategyFile(path);
    auto merged = lms::mergeStrategyFolder(path);
    if (!merged) return std::unexpected(merged.error());
    merged->strategy.file = path.string() + " (merged in memory)";
    return std::move(merged->strategy);
}

int runShow(const Args& parsed) {
    const fs::path path = parsed.positionals()[1];
    std::unique_ptr<lms::DistributedSource> source;
    lms::Strategy strategy;
    if (auto modelDir = parsed.value("ckpt")) {
        // Full shapes from the rank files; the strategy argument then behaves as in a merge.
        auto opened = lms::openDistributedModel({*modelDir, path, {}, {}});
        if (!opened) return reportError(opened.error());
        source = std::move(*opened);
        strategy = source->strategy();
    } else {
        auto read = strategyToShow(path);
        if (!read) return reportError(read.error());
        strategy = std::move(*read);
    }
    std::map<const lms::ParamLayout*, std::vector<int64_t>> checkpointShapes;
    if (source)
        for (size_t i = 0; i < source->tensors().size(); ++i)
            if (const auto* layout = source->placement(i).layout) {
                // The source's layouts point into its own copy of the strategy; match by position.
                const size_t index = size_t(layout - source->strategy().layouts.data());
                checkpointShapes[&strategy.layouts[index]] = source->placement(i).fullShape;
            }
    const auto shapesFor = [&](const lms::ParamLayout& layout) {
        auto it = checkpointShapes.find(&layout);
        return shapesOf(layout, it == checkpointShapes.end() ? nullptr : &it->second);
    };

    if (parsed.has("json")) {
        lms::JsonValue root = lms::JsonValue::object();
        root.set("file", strategy.file);
        root.set("format", strategy.format == lms::StrategyFormat::Json ? "json" : "protobuf");
        root.set("current_stage", strategy.currentStage);
        root.set("operator_items", strategy.operatorItemCount);
        root.set("layout_items", strategy.layoutItemCount);
        root.set("parameters", strategy.parameterCount());
        root.set("stages", strategy.stageCount());
        root.set("devices_per_stage", strategy.devicesPerStage());
        lms::JsonValue layouts = lms::JsonValue::array();
        for (const auto& layout : strategy.layouts) layouts.push_back(layoutJson(layout, shapesFor(layout)));
        root.set("layouts", std::move(layouts));
        std::printf("%s\n", lms::toJson(root).c_str());
        return kExitOk;
    }
    std::printf(
        "%s: %s strategy, current_stage %u, %zu operator items, %zu layout items, %zu parameters, "
        "%u stage(s) x %lld devices\n",
        strategy.file.c_str(), strategy.format == lms::StrategyFormat::Json ? "JSON" : "protobuf",
        strategy.currentStage, strategy.operatorItemCount, strategy.layoutItemCount,
        strategy.parameterCount(), strategy.stageCount(), static_cast<long long>(strategy.devicesPerStage()));
    for (const auto& layout : strategy.layouts) printLayout(layout, shapesFor(layout));
    return kExitOk;
}

int runMergeFolder(const Args& parsed) {
    const fs::path dir = parsed.positionals()[1];
    auto merged = lms::mergeStrategyFolder(dir);
    if (!merged) return reportError(merged.error());
    const fs::path output =
        parsed.value("output") ? fs::path(*parsed.value("output")) : dir / merged->defaultFileName();
    if (!parsed.has("output") && !lms::isWritableFolder(dir))
        return reportError({lms::ErrorCode::Io,
                            "the strategy folder is read-only; choose another place with -o FILE",
                            dir.string(),
                            {},
                            std::nullopt});
    if (auto written = lms::writeStrategyBytes(output, merged->bytes); !written) {
        lms::Error error = written.error();
        if (!parsed.has("output")) error.message += " (choose another place with -o FILE)";
        return reportError(error);
    }
    const auto& s = merged->strategy;
    std::printf(
        "merged %zu stage file(s) (%s)%s into %s: %zu layout items, %zu parameters, %u stage(s) x %lld "
        "devices\n",
        merged->stageFiles.size(), joined(merged->stageFiles).c_str(),
        merged->skippedFiles.empty() ? "" : (", skipped " + joined(merged->skippedFiles)).c_str(),
        output.string().c_str(), s.layoutItemCount, s.parameterCount(), s.stageCount(),
        static_cast<long long>(s.devicesPerStage()));
    return kExitOk;
}

}  // namespace

const std::vector<OptionSpec>& strategyOptionSpecs() {
    static const std::vector<OptionSpec> specs{
        {"json", false, ""}, {"output", true, "o"}, {"ckpt", true, ""}};
    return specs;
}

int runStrategy(const std::vector<std::string>& args, const GlobalOptions&) {
    Args parsed;
    const auto& specs = strategyOptionSpecs();
    if (auto error = parsed.parse(args, specs); !error.empty()) return usageError(error);
    const auto& positionals = parsed.positionals();
    if (positionals.size() != 2) return usageError(std::string("usage: loramerge ") + kStrategyUsage);
    if (positionals[0] == "merge") {
        if (parsed.has("json") || parsed.has("ckpt"))
            return usageError("strategy merge takes only DIR and -o FILE");
        return runMergeFolder(parsed);
    }
    if (positionals[0] == "show") {
        if (parsed.has("output")) return usageError("strategy show takes no -o");
        return runShow(parsed);
    }
    return usageError("unknown strategy command '" + positionals[0] + "' (" + kStrategyUsage + ")");
}

}  // namespace cli
