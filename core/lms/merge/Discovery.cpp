#include "lms/merge/Discovery.h"

#include "lms/distributed/Distributed.h"
#include "lms/formats/Source.h"
#include "lms/formats/Strategy.h"
#include "lms/lora/LoraPlan.h"

#include <algorithm>
#include <cctype>

namespace lms {
namespace fs = std::filesystem;
namespace {

bool endsWithNoCase(std::string_view name, std::string_view suffix) {
    if (name.size() < suffix.size()) return false;
    return std::ranges::equal(name.substr(name.size() - suffix.size()), suffix, [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
}

std::vector<fs::path> strategyFilesIn(const fs::path& dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_regular_file(ec) && isStrategyFileName(it->path().filename().string()))
            files.push_back(it->path());
    std::ranges::sort(files);
    return files;
}

// A LoRA A/B tensor or an optimizer copy of one ("adam_m.<lora name>").
bool isLoraOrItsCopy(std::string_view name) {
    const auto role = classifyName(name);
    if (role == TensorRole::LoraA || role == TensorRole::LoraB) return true;
    const auto dot = name.find('.');
    return role == TensorRole::OptimizerState && dot != std::string_view::npos &&
           classifyName(name.substr(dot + 1)) != TensorRole::Other;
}

PathKind classifyFile(const fs::path& path, bool readIndex) {
    const std::string name = path.filename().string();
    if (isStrategyFileName(name)) return PathKind::StrategyFile;
    if (!isCheckpointFileName(name)) return PathKind::OtherFile;
    if (!readIndex) return PathKind::FullCheckpoint;
    auto source = openFullSource(path);
    if (!source || (*source)->tensors().empty()) return PathKind::FullCheckpoint;  // opening reports it
    const bool onlyLora =
        std::ranges::all_of((*source)->tensors(), [](const auto& t) { return isLoraOrItsCopy(t.name); });
    return onlyLora ? PathKind::Adapter : PathKind::FullCheckpoint;
}

}  // namespace

bool isRankFolderName(std::string_view name, int64_t* rank) {
    // The rule of parseRankFolderName in Distributed.cpp: "rank_" and 1 to 9 digits.
    if (!name.starts_with("rank_") || name.size() == 5 || name.size() > 5 + 9) return false;
    int64_t value = 0;
    for (char c : name.substr(5)) {
        if (c < '0' || c > '9') return false;
        value = value * 10 + (c - '0');
    }
    if (rank) *rank = value;
    return true;
}

bool isCheckpointFileName(std::string_view fileName) {
    return endsWithNoCase(fileName, ".ckpt") || endsWithNoCase(fileName, ".safetensors");
}

bool isStrategyFileName(std::string_view fileName) {
    std::string lower(fileName);
    std::ranges::transform(lower, lower.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return lower.find("strategy") != std::string::npos &&
           (lower.ends_with(".ckpt") || lower.ends_with(".json"));
}

PathKind classifyPath(const fs::path& path, bool readIndex) {
    std::error_code ec;
    if (path.empty() || !fs::exists(path, ec)) return PathKind::Missing;
    if (!fs::is_directory(path, ec)) return classifyFile(path, readIndex);
    auto ranks = findRankFolders(path);
    if (!ranks || ranks->empty()) return ranks ? PathKind::Folder : PathKind::DistributedFolder;
    // dst/rank_0/<prefix>0.ckpt is what a merge of ours writes (mergedOutputFile): a full
    // checkpoint. A real 1-rank distributed checkpoint comes with its strategy and MindSpore's
    // names (<prefix>-<epoch>_<step>.ckpt); ours has neither.
    if (ranks->size() != 1 || ranks->front().rank != 0 || !findStrategyNear(path).path.empty())
        return PathKind::DistributedFolder;
    auto picked = pickRankCheckpoint(ranks->front().dir, {});
    const bool ours = picked && picked->stem().string().ends_with('0');
    return ours ? PathKind::MergedOutput : PathKind::DistributedFolder;
}

Result<std::vector<RankEntry>> discoverRanks(const fs::path& modelDir, const std::string& nameGlob) {
    auto folders = findRankFolders(modelDir);
    if (!folders) return std::unexpected(folders.error());
    std::vector<RankEntry> entries;
    for (const auto& folder : *folders) {
        RankEntry entry{folder.rank, folder.dir, {}, 0, {}};
        auto picked = pickRankCheckpoint(folder.dir, nameGlob, &entry.candidates);
        if (!picked) {
            entry.why = picked.error().message;
        } else {
            entry.picked = *picked;
            entry.why = entry.candidates == 1 ? "the only checkpoint file"
                        : nameGlob.empty() ? "lexicographically last of " + std::to_string(entry.candidates)
                                           : "matches " + nameGlob;
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

StrategyFound findStrategyNear(const fs::path& modelDir) {
    const fs::path dir = fs::absolute(modelDir).lexically_normal();
    const fs::path parent = (dir.has_filename() ? dir : dir.parent_path()).parent_path();
    // MindFormers writes output/strategy/ beside output/checkpoint/ (the model folder).
    for (const fs::path& candidate :
         {dir / "strategy", dir / "ckpt_strategy", dir / "output" / "strategy", parent / "strategy"}) {
        std::error_code ec;
        if (fs::is_directory(candidate, ec) && !strategyFilesIn(candidate).empty())
            return {candidate, "Using the strategy folder " + candidate.string() + "."};
    }
    for (const fs::path& place : {dir, parent}) {
        const auto files = strategyFilesIn(place);
        if (files.empty()) continue;
        for (const auto& file : files)
            if (isMergedStrategyFileName(file.filename().string()))
                return {file, "Using the merged strategy " + file.string() + "."};
        std::string note = "Using the strategy file " + files.front().string() + ".";
        if (files.size() > 1)
            note +=
                " Several strategy files lie there; if the run used pipeline parallelism, choose their "
                "folder as "
                "the strategy instead.";
        return {files.front(), note};
    }
    return {};
}

}  // namespace lms
