// `loramerge [merge]` and `loramerge plan`: the MindFormers transform_ckpt_lora.py flags on our engine.
#include "Args.h"
#include "Cli.h"
#include "Terminal.h"

#include "lms/base/Log.h"
#include "lms/base/Text.h"
#include "lms/merge/Request.h"

#include <cstdio>
#include <filesystem>

namespace cli {
namespace {

const std::vector<OptionSpec> kMergeOptions{
    {"src-ckpt-path-or-dir", true, ""},
    {"src-ckpt-strategy", true, ""},
    {"dst-ckpt-dir", true, ""},
    {"prefix", true, ""},
    {"lora-scaling", true, ""},
    {"lora-alpha", true, ""},
    {"lora-rank", true, ""},
    {"skip-invalid", false, ""},
    {"square-base", true, ""},
    {"ckpt-name", true, ""},
    {"overwrite", false, ""},
    {"no-verify", false, ""},
    {"no-crc-check", false, ""},
    {"json", false, ""},
    {"adapter", true, "", true},
    {"save-format", true, ""},
    {"dst-ckpt-strategy", true, ""},
    {"allow-no-lora", false, ""},
    {"check-replicas", true, ""},
    {"max-shard-size", true, ""},
    {"lora-config", true, ""},
    {"allow-partial", false, ""},
    {"adapter-name", true, ""},
};

}  // namespace

const std::vector<OptionSpec>& mergeOptionSpecs() {
    return kMergeOptions;
}

namespace {

struct MergeSetup {
    lms::MergeRequest request;
    bool json = false;
};

// --lora_scaling / --lora_alpha / --lora_rank into the request's scaling, with its provenance.
std::optional<int> parseScaling(const Args& parsed, lms::ScalingRequest& scaling) {
    if (auto text = parsed.value("lora-scaling")) {
        if (parsed.has("lora-alpha"))
            return usageError("give either --lora_scaling or --lora_alpha, not both");
        auto value = lms::parseScalingText(*text);
        if (!value) return usageError("--lora_scaling: " + value.error().message);
        scaling.spec.scaling = *value;
        scaling.origin = lms::ScalingOrigin::Scaling;
        scaling.provenance = "from --lora_scaling " + *text;
    }
    if (auto text = parsed.value("lora-alpha")) {
        auto value = lms::parseScalingText(*text);
        if (!value) return usageError("--lora_alpha: " + value.error().message);
        if (text->find('/') != std::string::npos) return usageError("--lora_alpha: not a number: " + *text);
        scaling.spec.alpha = *value;
        scaling.origin = lms::ScalingOrigin::AlphaPerPair;
        scaling.provenance = "from --lora_alpha " + *text + " and each pair's r";
    }
    if (auto text = parsed.value("lora-rank")) {
        if (!scaling.spec.alpha) return usageError("--lora_rank goes with --lora_alpha");
        auto value = lms::parseLoraRank(*text);
        if (!value) return usageError("--lora_rank: " + value.error().message);
        scaling.spec.rank = *value;
        scaling.origin = lms::ScalingOrigin::AlphaRank;
        scaling.provenance = "from --lora_alpha " + *parsed.value("lora-alpha") + " and --lora_rank " + *text;
    }
    if (auto file = parsed.value("lora-config")) scaling.configFile = *file;
    scaling.allowPartial = parsed.has("allow-partial");
    return std::nullopt;
}

// Maps the flags of merge and plan onto a MergeRequest (flag syntax only: the rules are
// resolve()'s); returns an exit code on a usage error.
std::optional<int> parseSetup(const std::vector<std::string>& args, MergeSetup& setup) {
    Args parsed;
    if (auto error = parsed.parse(args, kMergeOptions); !error.empty()) return usageError(error);
    auto& request = setup.request;
    auto positionals = parsed.positionals();
    if (auto src = parsed.value("src-ckpt-path-or-dir")) {
        request.source.path = *src;
    } else if (!positionals.empty()) {
        request.source.path = positionals.front();
        positionals.erase(positionals.begin());
    }
    if (!positionals.empty()) return usageError("unexpected argument '" + positionals.front() + "'");
    if (auto strategy = parsed.value("src-ckpt-strategy"))
        request.strategy = {*strategy == "None" ? lms::StrategyMode::None : lms::StrategyMode::Given,
                            *strategy == "None" ? std::string() : *strategy};
    request.source.ckptNameGlob = parsed.value("ckpt-name").value_or("");
    for (const auto& text : parsed.all("adapter")) {
        auto adapter = lms::parseAdapterSpec(text);
        if (!adapter) return usageError("--adapter " + text + ": " + adapter.error().message);
        request.source.adapters.push_back(std::move(*adapter));
    }
    request.source.adapterName = parsed.value("adapter-name").value_or("");  // the first adapter's
    if (auto check = parsed.value("check-replicas")) {
        auto mode = lms::parseReplicaCheck(*check);
        if (!mode) return usageError("--check-replicas takes full, sampled or off");
        request.source.replicaCheck = *mode;
    }
    request.destination.dir = parsed.value("dst-ckpt-dir").value_or("");
    request.destination.prefix = parsed.value("prefix").value_or("checkpoint_");
    if (auto format = parsed.value("save-format")) {
        if (*format == "safetensors")
            request.destination.format = lms::OutputFormat::Safetensors;
        else if (*format != "ckpt")
            return usageError("--save_format takes ckpt or safetensors");
    }
    if (auto size = parsed.value("max-shard-size")) {
        auto bytes = lms::parseShardSize(*size);
        if (!bytes) return usageError("--max_shard_size: " + bytes.error().message);
        request.options.maxShardBytes = *bytes;
    }
    if (auto dstStrategy = parsed.value("dst-ckpt-strategy"); dstStrategy && *dstStrategy != "None")
        request.destination.strategy = *dstStrategy;
    if (auto code = parseScaling(parsed, request.scaling)) return code;
    if (auto square = parsed.value("square-base")) {
        if (*square == "out-in")
            request.options.plan.squareOrientation = lms::SquareOrientation::OutIn;
        else if (*square == "in-out")
            request.options.plan.squareOrientation = lms::SquareOrientation::InOut;
        else
            return usageError("--square-base takes out-in or in-out");
    }
    request.options.skipInvalid = parsed.has("skip-invalid");
    request.options.allowNoLora = parsed.has("allow-no-lora");
    request.options.verify = !parsed.has("no-verify");
    request.options.checkInputCrc = !parsed.has("no-crc-check");
    request.overwrite =
        parsed.has("overwrite") ? lms::OverwritePolicy::Replace : lms::OverwritePolicy::Refuse;
    setup.json = parsed.has("json");
    return std::nullopt;
}

std::string dims(const std::vector<int64_t>& d) {
    return lms::formatDims(d);
}

void printPair(const lms::ResolvedJob& job, size_t p) {
    const auto& pair = job.plan.pairs[p];
    const char* status = pair.status == lms::PairStatus::Ok         ? "ok"
                         : pair.status == lms::PairStatus::Disabled ? "left out"
                                                                    : "PROBLEM";
    std::string scaling = p < job.pairScaling.size() && pair.status == lms::PairStatus::Ok
                              ? "  s=" + formatNumber(job.pairScaling[p])
                              : "";
    if (!scaling.empty() && p < job.pairScalingSource.size() && !job.pairScalingSource[p].empty())
        scaling += " (" + job.pairScalingSource[p] + ")";
    const auto notes = lms::pairNotes(pair);
    std::printf("  %-8s %s  base %s  A %s  B %s  r=%lld%s%s%s%s\n", status,
                pair.base.empty() ? "(no base)" : pair.base.c_str(), dims(pair.baseDims).c_str(),
                dims(pair.aDims).c_str(), dims(pair.bDims).c_str(), static_cast<long long>(pair.rank),
                pair.transposed ? "  transposed" : "", scaling.c_str(), notes.empty() ? "" : "  ",
                notes.c_str());
    if (pair.status == lms::PairStatus::Problem) std::printf("           %s\n", pair.problem.c_str());
}

// One section per adapter when there are several (or one with a weight): its file, weight, scaling
// and pairs (s is weight × the adapter's own scaling).
void printPairs(const lms::ResolvedJob& job) {
    const auto& plan = job.plan;
    if (job.adapters.empty()) {
        for (size_t p = 0; p < plan.pairs.size(); ++p) printPair(job, p);
        return;
    }
    for (size_t k = 0; k < job.adapters.size(); ++k) {
        const auto& adapter = job.adapters[k];
        size_t count = 0;
        for (const auto& pair : plan.pairs) count += pair.adapter == k;
        std::printf("adapter %zu: %s  weight %s  %zu pair(s)%s%s\n", k + 1, adapter.path.c_str(),
                    formatNumber(adapter.weight).c_str(), count,
                    adapter.scalingProvenance.empty() ? "" : "  scaling ", adapter.scalingProvenance.c_str());
        for (size_t p = 0; p < plan.pairs.size(); ++p)
            if (plan.pairs[p].adapter == k) printPair(job, p);
    }
}

void printJob(const lms::ResolvedJob& job) {
    const auto& plan = job.plan;
    std::printf("source: %s\n", job.source->description().c_str());
    std::printf("%zu parameters, %zu LoRA pairs (%zu ok, %zu with problems, %zu left out)\n",
                job.source->tensors().size(), plan.pairs.size(), plan.okPairs, plan.problemPairs,
                plan.disabledPairs);
    printPairs(job);
    if (!job.pairScaling.empty() && !job.scalingProvenance.empty() && job.adapters.empty())
        std::printf("scaling: %s\n", job.scalingProvenance.c_str());
    size_t dropped = 0;
    for (bool d : plan.dropped) dropped += d;
    std::printf("output: %llu parameters, %s of tensor data (%zu LoRA and optimizer-copy tensors dropped)\n",
                static_cast<unsigned long long>(plan.tensorsToWrite),
                lms::formatBytes(plan.bytesToWrite).c_str(), dropped);
    for (const auto& file : job.outputFiles) std::printf("would write: %s\n", file.c_str());
    if (job.freeBytes) std::printf("free at the destination: %s\n", lms::formatBytes(*job.freeBytes).c_str());
    for (const auto& warning : job.warnings) std::printf("warning: %s\n", warning.c_str());
}

}  // namespace

std::optional<int> parseMergeRequest(const std::vector<std::string>& args, lms::MergeRequest& request,
                                     bool& json) {
    MergeSetup setup;
    if (auto code = parseSetup(args, setup)) return code;
    request = std::move(setup.request);
    json = setup.json;
    return std::nullopt;
}

int runPlan(const std::vector<std::string>& args, const GlobalOptions&) {
    MergeSetup setup;
    if (auto code = parseSetup(args, setup)) return *code;
    const auto resolution = lms::resolve(setup.request);
    if (resolution.job) {
        for (const auto& note : resolution.job->notes) std::printf("note: %s\n", note.c_str());
        if (resolution.job->source)
            for (const auto& note : resolution.job->source->reportNotes())
                std::printf("note: %s\n", note.c_str());
        printJob(*resolution.job);
    }
    // A dry run may leave the destination open: it is the one refusal plan only mentions.
    size_t refused = 0;
    for (const auto& refusal : resolution.refusals) {
        if (refusal.code == lms::RefusalCode::NoDestination) {
            std::printf("note: no --dst_ckpt_dir given, so no output file is planned\n");
            continue;
        }
        ++refused;
        std::printf("the merge would be refused: %s\n", refusal.error.describe().c_str());
    }
    return refused == 0 ? kExitOk : kExitFailed;
}

int runMerge(const std::vector<std::string>& args, const GlobalOptions& global) {
    MergeSetup setup;
    if (auto code = parseSetup(args, setup)) return *code;
    setup.request.source.writeMergedStrategy = true;  // the one command that writes it (seed docs)
    const auto resolution = lms::resolve(setup.request);
    if (resolution.job && !global.quiet) {
        for (const auto& note : resolution.job->notes)
            std::fprintf(stderr, "loramerge: note: %s\n", note.c_str());
        for (const auto& warning : resolution.job->warnings)
            std::fprintf(stderr, "loramerge: warning: %s\n", warning.c_str());
    }
    if (!resolution.ok())
        return reportError(resolution.refusals.front().error);  // one clear error: the first reason
    const auto& job = *resolution.job;
    for (const auto& note : job.notes) lms::log().info("{}", note);

    ProgressPrinter printer(global.quiet);
    auto report = lms::run(job, [&](const lms::Progress& p) { printer.update(p); });
    printer.finish();
    if (!report) return reportError(report.error());
    if (!global.quiet) {
        for (const auto& note : report->notes) std::printf("note: %s\n", note.c_str());
        for (const auto& skipped : report->skipped) std::printf("skipped: %s\n", skipped.c_str());
        std::printf(
            "merged %zu LoRA pair(s); wrote %zu parameters (%s) to %s%s in %.2f s\n", report->pairsMerged,
            report->tensorsWritten, lms::formatBytes(report->bytesWritten).c_str(),
            report->outputFile.c_str(),
            report->outputFiles.size() > 1
                ? (" and " + std::to_string(report->outputFiles.size() - 1) + " more rank file(s)").c_str()
                : "",
            report->seconds);
        for (size_t k = 0; k < job.adapters.size(); ++k) {
            size_t merged = 0;
            for (const auto& pair : job.plan.pairs)
                merged += pair.adapter == k && pair.status == lms::PairStatus::Ok;
            std::printf("adapter %zu: %s  weight %s  %zu pair(s) merged%s%s\n", k + 1,
                        job.adapters[k].path.c_str(), formatNumber(job.adapters[k].weight).c_str(), merged,
                        job.adapters[k].scalingProvenance.empty() ? "" : "  scaling ",
                        job.adapters[k].scalingProvenance.c_str());
        }
    }
    return kExitOk;
}

}  // namespace cli
