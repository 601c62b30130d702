#include "lms/merge/Request.h"

#include "lms/io/FileIO.h"

#include "lms/base/Text.h"
#include "lms/formats/ShardFolder.h"
#include "lms/formats/Strategy.h"
#include "lms/lora/LoraConfig.h"
#include "lms/merge/Discovery.h"
#include "lms/merge/Job.h"
#include "lms/merge/Verify.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <set>

namespace lms {
namespace fs = std::filesystem;
namespace {

std::string numberText(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

Refusal refusal(RefusalCode code, Error error, const MergeRequest& request) {
    if (error.file.empty()) error.file = request.source.path.string();  // every refusal names a file
    return {code, std::move(error)};
}

// A folder of ours (only rank_0, no strategy) is a full checkpoint: its rank_0 file.
fs::path effectiveSourcePath(const MergeRequest& request, std::vector<std::string>& notes) {
    const auto& path = request.source.path;
    // A strategy given for it says the folder is distributed (e.g. a run missing rank_1, ...).
    if (request.strategy.mode == StrategyMode::Given || classifyPath(path) != PathKind::MergedOutput)
        return path;
    auto ranks = discoverRanks(path, request.source.ckptNameGlob);
    if (ranks && !ranks->empty() && !shardIndexFile(ranks->front().dir).empty()) {
        notes.push_back(path.string() + " holds only rank_0 with the shards of a sharded output: reading " +
                        ranks->front().dir.string() + " as one model");
        return ranks->front().dir;
    }
    if (!ranks || ranks->empty() || ranks->front().picked.empty()) return path;  // opening says why
    notes.push_back(path.string() + " holds only rank_0 and no strategy, as a merged output does: reading " +
                    ranks->front().picked.string() + " as a full checkpoint");
    return ranks->front().picked;
}

fs::path strategyFor(const MergeRequest& request, const fs::path& src, std::vector<std::string>& notes) {
    if (request.strategy.mode == StrategyMode::None) return {};
    if (request.strategy.mode == StrategyMode::Given || !request.strategy.path.empty())
        return request.strategy.path;
    std::error_code ec;
    if (!fs::is_directory(src, ec)) return {};
    auto found = findStrategyNear(src);
    if (!found.path.empty()) notes.push_back(found.note);
    return found.path;
}

Result<std::shared_ptr<const ModelSource>> openRequested(const MergeRequest& request,
                                                         std::vector<std::string>& notes,
                                                         const CancelToken* cancel) {
    SourceSpec spec;
    spec.src = effectiveSourcePath(request, notes);
    spec.strategy = strategyFor(request, spec.src, notes);
    spec.fallbackStrategyDir = request.destination.dir;
    spec.ckptNameGlob = request.source.ckptNameGlob;
    spec.adapter = request.source.adapter;
    for (size_t k = 1; k < request.source.adapters.size(); ++k)
        spec.moreAdapters.push_back(request.source.adapters[k].path);
    spec.replicaCheck = request.source.replicaCheck;
    spec.writeMergedStrategy = request.source.writeMergedStrategy;
    auto source = openSource(spec, &notes, cancel);
    if (!source) return std::unexpected(source.error());
    return std::shared_ptr<const ModelSource>(std::move(*source));
}

// Output files and reshard settings from the destination; refusals for what cannot be.
void resolveDestination(const MergeRequest& request, ResolvedJob& job, std::vector<Refusal>& out) {
    const auto& dst = request.destination;
    job.options.format = dst.format;
    if (dst.dir.empty()) {
        out.push_back(refusal(RefusalCode::NoDestination,
                              {ErrorCode::InvalidArgument,
                               "no destination folder given: choose the folder the merged "
                               "checkpoint goes to",
                               {},
                               "dst_ckpt_dir",
                               std::nullopt},
                              request));
        return;
    }
    if (dst.prefix.find('/') != std::string::npos || dst.prefix.find('\\') != std::string::npos) {
        out.push_back(refusal(RefusalCode::BadPrefix,
                              {ErrorCode::InvalidArgument,
                               "the prefix is part of a file name and must not contain a "
                               "slash",
                               {},
                               "prefix",
                               std::nullopt},
                              request));
        return;
    }
    job.options.outputFile = mergedOutputFile(dst.dir, dst.prefix, dst.format);
    if (dst.strategy.empty()) {
        job.outputFiles = {job.options.outputFile};
        return;
    }
    auto strategy = readStrategyFile(dst.strategy);
    if (!strategy) {
        auto error = strategy.error();
        error.parameter = "dst_ckpt_strategy";
        out.push_back(refusal(RefusalCode::BadDestinationStrategy, std::move(error), request));
        return;
    }
    auto shared = std::make_shared<Strategy>(std::move(*strategy));
    for (int64_t rank = 0; rank < shared->devicesPerStage(); ++rank)
        job.outputFiles.push_back(rankOutputFile(dst.dir, dst.prefix, rank, dst.format));
    job.options.reshard = ReshardSpec{std::move(shared), dst.dir, dst.prefix};
}

// The LoRA config: the one given, else (no scaling given) the one found next to the adapter or source.
// An explicit scaling wins over the file, and the provenance says so.
std::shared_ptr<const LoraSettings> resolveLoraConfig(const MergeRequest& request, ResolvedJob& job,
                                                      std::vector<Refusal>& out) {
    const auto& given = request.scaling;
    std::filesystem::path file = given.configFile;
    if (file.empty() && !given.spec.isSet()) {
        auto found =
            findLoraConfig(request.source.adapter.empty() ? request.source.path : request.source.adapter);
        if (!found) {
            out.push_back(refusal(RefusalCode::BadLoraConfig, found.error(), request));
            return nullptr;
        }
        file = *found;
    }
    if (file.empty()) return nullptr;
    auto settings = readLoraConfig(file);
    if (!settings) {
        out.push_back(refusal(RefusalCode::BadLoraConfig, settings.error(), request));
        return nullptr;
    }
    if (settings->kind == LoraConfigKind::MindFormersManifest)
        // MindFormers validate_adapter_base compares it with get_base_checkpoint_fingerprint(base),
        // a function its published sources do not define, so we cannot recompute it.
        job.notes.push_back(
            settings->baseFingerprint.empty()
                ? file.string() + " records no base_fingerprint; the base was not checked"
                : file.string() + " records base_fingerprint \"" + settings->baseFingerprint +
                      "\"; it was not checked (how MindFormers computes it is not published)");
    auto shared = std::make_shared<const LoraSettings>(std::move(*settings));
    if (given.spec.scaling || given.spec.alpha) {
        job.scalingProvenance += " (overrides " + shared->provenance.substr(5) + ")";
        return shared;
    }
    job.scalingProvenance = shared->provenance;
    job.options.scaling.config = shared;
    return shared;
}

// Base weights the config's target_modules selects that no LoRA pair covers: the adapter would be
// merged only in part (a truncated save, a missing stage, the wrong adapter).
void resolvePartial(const MergeRequest& request, const LoraSettings* settings, ResolvedJob& job,
                    std::vector<Refusal>& out) {
    if (!settings || settings->targetModules.empty()) return;
    if (!settings->targetCheckSkipped.empty()) {
        job.notes.push_back("target_modules of " + settings->file.string() +
                            " was not checked against the pairs: " + settings->targetCheckSkipped);
        return;
    }
    const auto missing = untargetedWeights(job.source->tensors(), job.plan, *settings);
    if (missing.empty()) return;
    constexpr size_t kListed = 5;
    std::string list;
    for (size_t i = 0; i < missing.size() && i < kListed; ++i) list += (i ? ", " : "") + missing[i];
    if (missing.size() > kListed) list += " and " + std::to_string(missing.size() - kListed) + " more";
    const std::string text = "target_modules " + settings->targetModulesText() + " in " +
                             settings->file.filename().string() + " selects " +
                             std::to_string(missing.size()) + " weight(s) that have no LoRA pair: " + list;
    if (request.scaling.allowPartial) {
        job.warnings.push_back(text + "; merging only the pairs present (--allow-partial)");
        return;
    }
    out.push_back(refusal(RefusalCode::PartialMerge,
                          {ErrorCode::Mismatch,
                           text + "; the adapter covers only part of what it was trained on (--allow-partial "
                                  "merges the pairs present)",
                           settings->file.string(), "target_modules", std::nullopt},
                          request));
}

// An S-LoRA lora_adapter.json as the adapter: the chosen adapter's checkpoint and config.
std::optional<Refusal> resolveSlora(MergeRequest& request, std::vector<std::string>& notes) {
    auto& source = request.source;
    if (source.adapter.filename() != kSloraMapName) return std::nullopt;
    auto adapters = readSloraAdapters(source.adapter);
    if (!adapters) return refusal(RefusalCode::SourceUnreadable, adapters.error(), request);
    std::string names;
    for (const auto& a : *adapters) names += (names.empty() ? "" : ", ") + a.name;
    const auto chosen = std::find_if(adapters->begin(), adapters->end(),
                                     [&](const SloraAdapter& a) { return a.name == source.adapterName; });
    if (chosen == adapters->end())
        return refusal(RefusalCode::SourceUnreadable,
                       {ErrorCode::InvalidArgument,
                        source.adapterName.empty()
                            ? "an S-LoRA adapter map of " + std::to_string(adapters->size()) +
                                  " adapter(s) (" + names + "); choose the one to merge with --adapter_name"
                            : "no adapter \"" + source.adapterName + "\" in it (it maps " + names + ")",
                        source.adapter.string(), "adapter_name", std::nullopt},
                       request);
    notes.push_back("S-LoRA adapter \"" + chosen->name + "\" of " + source.adapter.string() + ": merging " +
                    chosen->checkpoint.string());
    if (request.scaling.configFile.empty()) request.scaling.configFile = chosen->settings.file;
    source.adapter = chosen->checkpoint;
    return std::nullopt;
}

// `adapter` (when set) first, then `adapters`; the first also becomes `adapter`/`adapterName`, which
// the single-adapter rules (S-LoRA, the config found beside it) read. Weights must be finite, not 0.
std::optional<Refusal> normalizeAdapters(MergeRequest& request) {
    auto& source = request.source;
    if (!source.adapter.empty())
        source.adapters.insert(source.adapters.begin(),
                               AdapterRequest{source.adapter, 1, source.adapterName});
    if (source.adapters.empty()) return std::nullopt;
    source.adapter = source.adapters.front().path;
    if (!source.adapters.front().name.empty()) source.adapterName = source.adapters.front().name;
    for (const auto& a : source.adapters)
        if (!std::isfinite(a.weight) || a.weight == 0)
            return refusal(RefusalCode::BadAdapterWeight,
                           {ErrorCode::InvalidArgument,
                            "the adapter weight " + numberText(a.weight) +
                                " is not usable: give a finite number other than 0 (a negative weight "
                                "subtracts the adapter)",
                            a.path.string(), "adapter", std::nullopt},
                           request);
    return std::nullopt;
}

// The scaling of adapter k >= 1: the global scaling or alpha, else the config given for all, else the
// one found beside the adapter.
ScalingSpec adapterScaling(const MergeRequest& request, size_t k, std::string& provenance,
                           std::vector<Refusal>& out) {
    const auto& given = request.scaling;
    const auto& path = request.source.adapters[k].path;
    provenance = given.provenance;
    if (given.spec.scaling || given.spec.alpha) return given.spec;
    std::filesystem::path file = given.configFile;
    if (file.empty()) {
        auto found = findLoraConfig(path);
        if (!found) {
            out.push_back(refusal(RefusalCode::BadLoraConfig, found.error(), request));
            return {};
        }
        file = *found;
    }
    if (file.empty()) return {};  // pairScalings says that no scaling was given
    auto settings = readLoraConfig(file);
    if (!settings) {
        out.push_back(refusal(RefusalCode::BadLoraConfig, settings.error(), request));
        return {};
    }
    provenance = settings->provenance;
    ScalingSpec spec;
    spec.config = std::make_shared<const LoraSettings>(std::move(*settings));
    return spec;
}

// Several adapters, or one with a weight: one term per adapter in job.options.adapters.
void resolveAdapterTerms(const MergeRequest& request, ResolvedJob& job, std::vector<Refusal>& out) {
    const auto& adapters = request.source.adapters;
    if (adapters.empty() || (adapters.size() == 1 && adapters.front().weight == 1)) return;
    for (size_t k = 0; k < adapters.size(); ++k) {
        std::string provenance = job.scalingProvenance;
        auto spec = k == 0 ? job.options.scaling : adapterScaling(request, k, provenance, out);
        job.options.adapters.push_back({std::move(spec), adapters[k].weight});
        job.adapters.push_back(
            {k == 0 ? request.source.adapter : adapters[k].path, adapters[k].weight, provenance});
    }
}

// "; adapter 1 is a.ckpt, adapter 2 is b.ckpt": the files behind "in adapter N" of plan problems.
std::string adapterLegend(const MergeRequest& request) {
    const auto& adapters = request.source.adapters;
    if (adapters.size() < 2) return {};
    std::string text;
    for (size_t k = 0; k < adapters.size(); ++k)
        text +=
            (k ? ", adapter " : "; adapter ") + std::to_string(k + 1) + " is " + adapters[k].path.string();
    return text;
}

// The preview is the result: a NaN or Inf in a LoRA tensor that would be merged is refused here, as the
// merge would refuse it (Verify.h checkInputFinite, the same words). LoRA tensors are small; past
// kPreviewLoraBytes in all they are left to the merge, which checks every block it reads, with a note.
constexpr uint64_t kPreviewLoraBytes = 64ull << 20;

void resolveLoraValues(const MergeRequest& request, ResolvedJob& job, std::vector<Refusal>& out,
                       const CancelToken* cancel) {
    const auto& tensors = job.source->tensors();
    std::vector<size_t> merged;
    uint64_t total = 0;
    for (size_t i = 0; i < tensors.size() && i < job.plan.roles.size(); ++i) {
        const TensorRole role = job.plan.roles[i];
        const int pair = job.plan.pairOfTensor[i];
        if ((role != TensorRole::LoraA && role != TensorRole::LoraB) || pair < 0 ||
            job.plan.pairs[size_t(pair)].status != PairStatus::Ok || !isFloatingPoint(tensors[i].dtype))
            continue;
        merged.push_back(i);
        total += tensors[i].byteSize;
    }
    if (total > kPreviewLoraBytes) {
        job.notes.push_back("the LoRA tensors (" + std::to_string(total >> 20) +
                            " MiB) are checked for NaN and Inf while merging, not in this preview");
        return;
    }
    std::vector<std::byte> bytes;
    for (size_t i : merged) {
        bytes.resize(size_t(tensors[i].byteSize));
        if (auto st = job.source->read(i, bytes, cancel); !st)
            return out.push_back(refusal(RefusalCode::SourceUnreadable, st.error(), request));
        const char* role = job.plan.roles[i] == TensorRole::LoraA ? "LoRA A" : "LoRA B";
        if (auto st = checkInputFinite(*job.source, i, role, bytes, 0); !st)
            return out.push_back(refusal(RefusalCode::NonFiniteLora, st.error(), request));
    }
}

void resolvePlan(const MergeRequest& request, ResolvedJob& job, std::vector<Refusal>& out) {
    job.plan = planLora(job.source->tensors(), job.options.plan);
    job.bytesToWrite = job.plan.bytesToWrite;
    // A destination strategy that does not fit these tensors is refused now, not when writing.
    if (job.options.reshard)
        if (auto st = checkReshard(*job.source, job.plan, *job.options.reshard->strategy); !st)
            out.push_back(refusal(RefusalCode::BadDestinationStrategy, st.error(), request));
    if (auto st = checkPlanMergeable(*job.source, job.plan, job.options); !st) {
        const bool problems = job.plan.problemPairs > 0 && !job.options.skipInvalid;
        auto error = st.error();
        if (problems) error.message += adapterLegend(request);
        out.push_back(refusal(job.plan.tensorsToWrite == 0 ? RefusalCode::NothingToMerge
                              : problems                   ? RefusalCode::PairProblems
                                                           : RefusalCode::NoLoraPairs,
                              std::move(error), request));
    }
    auto scalings = pairScalings(job.plan, job.options);
    if (!scalings) {
        const bool configRefused = std::any_of(
            out.begin(), out.end(), [](const Refusal& r) { return r.code == RefusalCode::BadLoraConfig; });
        if (!configRefused)
            out.push_back(
                refusal(job.options.scaling.config ? RefusalCode::BadLoraConfig : RefusalCode::NoScaling,
                        scalings.error(), request));
        return;
    }
    job.pairScaling = std::move(*scalings);
    for (const auto& pair : job.plan.pairs) {
        const auto& spec = pair.adapter < job.options.adapters.size()
                               ? job.options.adapters[pair.adapter].scaling
                               : job.options.scaling;
        std::string_view module = pair.base;
        if (module.ends_with(".weight")) module.remove_suffix(7);
        job.pairScalingSource.push_back(
            spec.config && !spec.scaling && !spec.alpha ? spec.config->patternsFor(module) : std::string());
    }
    const auto& spec = job.options.scaling;
    std::set<int64_t> ranks;
    for (const auto& pair : job.plan.pairs)
        if (pair.status == PairStatus::Ok && pair.rank > 0) ranks.insert(pair.rank);
    if (!spec.scaling && spec.rank && !ranks.empty() &&
        (ranks.size() > 1 || *ranks.begin() != int64_t(*spec.rank))) {
        std::string list;
        for (int64_t r : ranks) list += (list.empty() ? "" : ", ") + std::to_string(r);
        job.warnings.push_back("the LoRA weights have r = " + list + " but lora_rank is " +
                               numberText(*spec.rank) + "; check lora_rank");
    }
}

// A sharded output is the shard files (and the index when there are several) in the output folder.
void resolveShards(ResolvedJob& job) {
    if (job.options.maxShardBytes == 0 || job.options.reshard || job.outputFiles.empty()) return;
    const auto dir = job.options.outputFile.parent_path();
    const auto shards = planOutputShards(*job.source, job.plan, job.options.maxShardBytes);
    job.outputFiles.clear();
    for (const auto& name : shards.fileNames) job.outputFiles.push_back(dir / name);
    if (shards.fileNames.size() > 1) job.outputFiles.push_back(dir / "model.safetensors.index.json");
}

void resolveOutputs(const MergeRequest& request, ResolvedJob& job, std::vector<Refusal>& out) {
    for (const auto& file : job.outputFiles) {
        if (auto st = checkOutputLocation(*job.source, file); !st) {
            out.push_back(refusal(RefusalCode::OutputIsInput, st.error(), request));
            return;
        }
        std::error_code ec;
        if (fs::exists(file, ec)) job.existingOutputs.push_back(file);
    }
    // The policy also binds at publish time (no check-then-act): a file that appears meanwhile is refused.
    job.options.overwrite = request.overwrite == OverwritePolicy::Replace;
    if (!job.existingOutputs.empty() && request.overwrite == OverwritePolicy::Refuse)
        out.push_back(refusal(RefusalCode::OutputExists,
                              {ErrorCode::InvalidArgument,
                               "the output file already exists; allow replacing it "
                               "(--overwrite) or choose another destination folder",
                               job.existingOutputs.front().string(), "dst_ckpt_dir", std::nullopt},
                              request));
    for (const auto& file : job.existingOutputs)
        if (request.overwrite == OverwritePolicy::Replace)
            job.warnings.push_back("the output file " + file.string() + " exists and will be replaced");
    if (job.outputFiles.empty()) return;
    if (auto space = freeSpace(job.outputFiles.front().parent_path())) job.freeBytes = *space;
    if (job.freeBytes && *job.freeBytes < job.bytesToWrite)
        job.warnings.push_back("only " + formatBytes(*job.freeBytes) +
                               " free at the destination, but about " + formatBytes(job.bytesToWrite) +
                               " to write");
}

// The merged pipeline strategy to save (destination.mergedStrategyFile): merged here (small, read
// from the strategy folder), written by run() after the merge.
void resolveMergedStrategy(const MergeRequest& request, ResolvedJob& job, std::vector<Refusal>& out) {
    const fs::path& file = request.destination.mergedStrategyFile;
    if (file.empty()) return;
    const fs::path& folder = request.strategy.path;
    const auto refuse = [&](RefusalCode code, Error error) {
        error.parameter = "merged_strategy_file";
        out.push_back(refusal(code, std::move(error), request));
    };
    std::error_code ec;
    if (request.strategy.mode == StrategyMode::None || folder.empty() || !fs::is_directory(folder, ec))
        return refuse(
            RefusalCode::NotAStrategyFolder,
            {ErrorCode::InvalidArgument,
             "a merged strategy is saved only for a strategy folder (the per-rank strategy files "
             "of a pipeline run); this merge has " +
                 (folder.empty() ? std::string("no strategy") : "the strategy file " + folder.string()),
             file.string(),
             {},
             std::nullopt});
    // A name in the folder that a later merge would read as a stage file (or one of them): refused.
    if (fs::absolute(file).parent_path() == fs::absolute(folder) &&
        !isMergedStrategyFileName(file.filename().string()))
        return refuse(RefusalCode::OutputIsInput,
                      {ErrorCode::InvalidArgument,
                       "the merged strategy would go into the strategy folder under a name later merges read "
                       "as a per-rank file; name it " +
                           std::string(kMergedStrategyFileName) + " or save it elsewhere",
                       file.string(),
                       {},
                       std::nullopt});
    auto merged = mergeStrategyFolder(folder);
    if (!merged) return refuse(RefusalCode::NotAStrategyFolder, merged.error());
    job.mergedStrategyFile = file;
    job.mergedStrategyBytes = std::move(merged->bytes);
    if (!fs::exists(file, ec)) return;
    job.existingOutputs.push_back(file);
    if (request.overwrite == OverwritePolicy::Replace)
        job.warnings.push_back("the merged strategy file " + file.string() + " exists and will be replaced");
    else
        refuse(RefusalCode::OutputExists, {ErrorCode::InvalidArgument,
                                           "the merged strategy file already exists; allow replacing it "
                                           "(--overwrite) or choose another file",
                                           file.string(),
                                           {},
                                           std::nullopt});
}

}  // namespace

Result<AdapterRequest> parseAdapterSpec(std::string_view text) {
    AdapterRequest adapter{std::filesystem::path(std::string(text)), 1, {}};
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return adapter;
    const auto suffix = text.substr(colon + 1);
    // A decimal number only: from_chars alone would also take "inf" and "nan", which are file names here.
    size_t k = suffix.starts_with('+') || suffix.starts_with('-') ? 1 : 0;
    if (k >= suffix.size() || !(std::isdigit(static_cast<unsigned char>(suffix[k])) || suffix[k] == '.'))
        return adapter;
    double weight = 0;
    const auto digits = suffix.substr(suffix.starts_with('+') ? 1 : 0);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), weight);
    if (ec == std::errc::invalid_argument || end != digits.data() + digits.size()) return adapter;
    const std::string path(text.substr(0, colon));
    if (ec == std::errc::result_out_of_range || !std::isfinite(weight) || weight == 0)
        return fail(ErrorCode::InvalidArgument,
                    "the adapter weight " + std::string(suffix) +
                        " is not usable: give a finite number other than 0 (a negative weight subtracts "
                        "the adapter)",
                    path, "adapter");
    if (path.empty())
        return fail(ErrorCode::InvalidArgument, "no adapter file before the weight", {}, "adapter");
    return AdapterRequest{path, weight, {}};
}

Result<std::vector<AdapterRequest>> parseAdapterList(std::string_view text) {
    std::vector<AdapterRequest> adapters;
    while (!text.empty()) {
        const size_t semicolon = text.find(';');
        std::string_view entry = text.substr(0, semicolon);
        text = semicolon == std::string_view::npos ? std::string_view{} : text.substr(semicolon + 1);
        while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.front())))
            entry.remove_prefix(1);
        while (!entry.empty() && std::isspace(static_cast<unsigned char>(entry.back())))
            entry.remove_suffix(1);
        if (entry.empty()) continue;
        auto adapter = parseAdapterSpec(entry);
        if (!adapter) return std::unexpected(adapter.error());
        adapters.push_back(std::move(*adapter));
    }
    return adapters;
}

const char* refusalCodeName(RefusalCode code) {
    switch (code) {
        case RefusalCode::NoSource:
            return "no-source";
        case RefusalCode::SourceUnreadable:
            return "source-unreadable";
        case RefusalCode::NoDestination:
            return "no-destination";
        case RefusalCode::BadPrefix:
            return "bad-prefix";
        case RefusalCode::BadDestinationStrategy:
            return "bad-destination-strategy";
        case RefusalCode::NothingToMerge:
            return "nothing-to-merge";
        case RefusalCode::PairProblems:
            return "pair-problems";
        case RefusalCode::NoLoraPairs:
            return "no-lora-pairs";
        case RefusalCode::NoScaling:
            return "no-scaling";
        case RefusalCode::OutputIsInput:
            return "output-is-input";
        case RefusalCode::OutputExists:
            return "output-exists";
        case RefusalCode::BadLoraConfig:
            return "bad-lora-config";
        case RefusalCode::PartialMerge:
            return "partial-merge";
        case RefusalCode::BadAdapterWeight:
            return "bad-adapter-weight";
        case RefusalCode::NotAStrategyFolder:
            return "not-a-strategy-folder";
        case RefusalCode::NonFiniteLora:
            return "non-finite-lora";
    }
    return "?";
}

bool concernsOutputOnly(RefusalCode code) {
    using enum RefusalCode;
    return code == NoDestination || code == BadPrefix || code == BadDestinationStrategy ||
           code == OutputIsInput || code == OutputExists;
}

Resolution resolve(const MergeRequest& given, std::shared_ptr<const ModelSource> opened,
                   const CancelToken* cancel) {
    Resolution resolution;
    auto& out = resolution.refusals;
    ResolvedJob job;
    MergeRequest request = given;
    if (auto refused = normalizeAdapters(request)) {
        out.push_back(std::move(*refused));
        return resolution;
    }
    if (auto refused = resolveSlora(request, job.notes)) {
        out.push_back(std::move(*refused));
        return resolution;
    }
    job.options = request.options;
    job.options.scaling = request.scaling.spec;
    job.scalingProvenance = request.scaling.provenance;
    job.sourcePath = request.source.path;
    resolveDestination(request, job, out);
    if (!opened) {
        if (request.source.path.empty()) {
            out.insert(out.begin(), Refusal{RefusalCode::NoSource,
                                            {ErrorCode::InvalidArgument,
                                             "no source checkpoint "
                                             "given: choose a checkpoint file or model_dir",
                                             {},
                                             "src_ckpt_path_or_dir",
                                             std::nullopt}});
            return resolution;
        }
        auto source = openRequested(request, job.notes, cancel);
        if (!source) {
            out.insert(out.begin(), refusal(RefusalCode::SourceUnreadable, source.error(), request));
            return resolution;
        }
        opened = std::move(*source);
    }
    job.source = std::move(opened);
    const auto settings = resolveLoraConfig(request, job, out);
    resolveAdapterTerms(request, job, out);
    resolvePlan(request, job, out);
    resolveLoraValues(request, job, out, cancel);
    resolvePartial(request, settings.get(), job, out);
    resolveShards(job);
    resolveOutputs(request, job, out);
    resolveMergedStrategy(request, job, out);
    resolution.job = std::move(job);
    return resolution;
}

Result<MergeReport> run(const ResolvedJob& job, const ProgressCallback& progress, const CancelToken* cancel) {
    // The merged strategy is written (and fsynced) before the merge, published only after it: a
    // failed or cancelled merge leaves no strategy file, a full disk is known before the merge.
    AtomicOutputFile strategyFile;
    if (!job.mergedStrategyFile.empty()) {
        std::error_code ec;  // a missing folder is made, as the merge makes its destination
        if (const auto parent = job.mergedStrategyFile.parent_path(); !parent.empty())
            fs::create_directories(parent, ec);
        auto created = AtomicOutputFile::create(
            job.mergedStrategyFile, job.options.overwrite ? Publish::Replace : Publish::NoClobber);
        if (!created) return std::unexpected(created.error());
        strategyFile = std::move(*created);
        const auto* data = reinterpret_cast<const std::byte*>(job.mergedStrategyBytes.data());
        if (auto st = strategyFile.write({data, job.mergedStrategyBytes.size()}); !st)
            return std::unexpected(st.error());
        if (auto st = strategyFile.finish(); !st) return std::unexpected(st.error());
    }
    auto report = runMerge(*job.source, job.options, progress, cancel);
    if (report && !job.mergedStrategyFile.empty()) {
        if (auto st = strategyFile.publish(); !st) {
            Error error = st.error();
            error.message =
                "the merged checkpoint was written, but the merged strategy was not: " + error.message;
            error.parameter = "merged_strategy_file";
            return std::unexpected(std::move(error));
        }
        report->notes.push_back("saved the merged pipeline strategy to " + job.mergedStrategyFile.string());
    }
    if (!report && report.error().file.empty()) {
        auto error = report.error();
        error.file = job.sourcePath.string();  // every error names a file
        return std::unexpected(std::move(error));
    }
    return report;
}

}  // namespace lms
