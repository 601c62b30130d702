#include "lms/merge/Discovery.h"

#include "lms/distributed/Checkpoint2.h"
#include "lms/distributed/Distributed.h"
#include "lms/formats/ShardFolder.h"
#include "lms/formats/Source.h"
#include "lms/formats/Strategy.h"
#include "lms/lora/LoraPlan.h"

#include <algorithm>
#include <cctype>
#include <regex>

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

// rank_0 as a merge writes it (mergedOutputFile, or the shards and index of a sharded output), and
// as MindSpore's transform_checkpoints writes it: dst/rank_<r>/<prefix><r>.ckpt (spec §4.11).
// MindSpore's own saves are named <prefix>-<epoch>_<step>.ckpt (spec §1.10), which this excludes.
bool looksLikeOurRank0(const fs::path& rank0) {
    if (!shardIndexFile(rank0).empty()) return true;
    size_t candidates = 0;
    auto picked = pickRankCheckpoint(rank0, {}, &candidates);
    if (!picked || candidates != 1) return false;
    const std::string stem = picked->stem().string();
    static const std::regex mindSporeSave(R"(-[0-9]+_[0-9]+$)");
    return stem.size() >= 2 && stem.back() == '0' &&
           !std::isdigit(static_cast<unsigned char>(stem[stem.size() - 2])) &&
           !std::regex_search(stem, mindSporeSave);
}

}  // namespace

const char* pathKindText(PathKind kind) {
    switch (kind) {
        case PathKind::Missing:
            return "missing";
        case PathKind::FullCheckpoint:
            return "full checkpoint";
        case PathKind::DistributedFolder:
            return "distributed checkpoint";
        case PathKind::MergedOutput:
            return "merged checkpoint";
        case PathKind::Adapter:
            return "LoRA adapter";
        case PathKind::StrategyFile:
            return "strategy";
        case PathKind::Folder:
            return "folder";
        case PathKind::OtherFile:
            return "file";
        case PathKind::Checkpoint2:
            return "Checkpoint 2.0";
        case PathKind::ShardFolder:
            return "shard folder";
    }
    return "?";
}

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
    if (ranks && ranks->empty()) {
        if (!shardIndexFile(path).empty()) return PathKind::ShardFolder;
        if (looksLikeCheckpoint2(path)) return PathKind::Checkpoint2;
        return PathKind::Folder;
    }
    if (!ranks || ranks->size() != 1 || ranks->front().rank != 0) return PathKind::DistributedFolder;
    return looksLikeOurRank0(ranks->front().dir) && findStrategyNear(path).path.empty()
               ? PathKind::MergedOutput
               : PathKind::DistributedFolder;
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
