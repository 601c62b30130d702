// `loramerge [merge]` and `loramerge plan`: the MindFormers transform_ckpt_lora.py flags on our engine.
#include "Args.h"
#include "Cli.h"
#include "Terminal.h"

#include "lms/Job.h"
#include "lms/Log.h"
#include "lms/Text.h"

#include <cstdio>
#include <filesystem>

namespace cli {
namespace {

const std::vector<OptionSpec> kMergeOptions{
    {"src-ckpt-path-or-dir", true, ""}, {"src-ckpt-strategy", true, ""}, {"dst-ckpt-dir", true, ""},
    {"prefix", true, ""},               {"lora-scaling", true, ""},      {"lora-alpha", true, ""},
    {"lora-rank", true, ""},            {"skip-invalid", false, ""},     {"square-base", true, ""},
    {"ckpt-name", true, ""},            {"overwrite", false, ""},        {"no-verify", false, ""},
    {"no-crc-check", false, ""},        {"json", false, ""},             {"adapter", true, ""},
    {"save-format", true, ""},          {"dst-ckpt-strategy", true, ""},
};

struct MergeSetup {
    lms::SourceSpec source;
    lms::MergeOptions merge;
    std::string dstDir;
    bool overwrite = false;
    bool json = false;
};

// Parses the shared flags of merge and plan; returns an exit code on error.
std::optional<int> parseSetup(const std::vector<std::string>& args, bool needDestination, MergeSetup& setup) {
    Args parsed;
    if (auto error = parsed.parse(args, kMergeOptions); !error.empty()) return usageError(error);
    auto positionals = parsed.positionals();
    if (auto src = parsed.value("src-ckpt-path-or-dir")) {
        setup.source.src = *src;
    } else if (!positionals.empty()) {
        setup.source.src = positionals.front();
        positionals.erase(positionals.begin());
    }
    if (!positionals.empty()) return usageError("unexpected argument '" + positionals.front() + "'");
    if (setup.source.src.empty()) return usageError("missing --src_ckpt_path_or_dir (the checkpoint file or model_dir)");
    if (auto strategy = parsed.value("src-ckpt-strategy"); strategy && *strategy != "None")
        setup.source.strategy = *strategy;
    setup.source.ckptNameGlob = parsed.value("ckpt-name").value_or("");
    setup.source.adapter = parsed.value("adapter").value_or("");
    setup.dstDir = parsed.value("dst-ckpt-dir").value_or("");
    if (needDestination && setup.dstDir.empty()) return usageError("missing --dst_ckpt_dir (the output folder)");
    setup.source.fallbackStrategyDir = setup.dstDir;
    const std::string prefix = parsed.value("prefix").value_or("checkpoint_");
    if (prefix.find('/') != std::string::npos) return usageError("--prefix must not contain '/'");
    if (auto format = parsed.value("save-format")) {
        if (*format == "safetensors") setup.merge.format = lms::OutputFormat::Safetensors;
        else if (*format != "ckpt") return usageError("--save_format takes ckpt or safetensors");
    }
    if (!setup.dstDir.empty()) setup.merge.outputFile = lms::mergedOutputFile(setup.dstDir, prefix, setup.merge.format);
    if (auto dstStrategy = parsed.value("dst-ckpt-strategy"); dstStrategy && *dstStrategy != "None") {
        auto strategy = lms::readStrategyFile(*dstStrategy);
        if (!strategy) {
            auto error = strategy.error();
            error.parameter = "dst_ckpt_strategy";
            return reportError(error);
        }
        setup.merge.reshard = lms::ReshardSpec{std::make_shared<lms::Strategy>(std::move(*strategy)), setup.dstDir, prefix};
    }

    if (auto text = parsed.value("lora-scaling")) {
        if (parsed.has("lora-alpha")) return usageError("give either --lora_scaling or --lora_alpha, not both");
        auto value = lms::parseScalingText(*text);
        if (!value) return usageError("--lora_scaling: " + value.error().message);
        setup.merge.scaling.scaling = *value;
    }
    if (auto text = parsed.value("lora-alpha")) {
        auto value = lms::parseScalingText(*text);
        if (!value || text->find('/') != std::string::npos) return usageError("--lora_alpha: not a number: " + *text);
        setup.merge.scaling.alpha = *value;
    }
    if (auto text = parsed.value("lora-rank")) {
        if (!setup.merge.scaling.alpha) return usageError("--lora_rank goes with --lora_alpha");
        auto value = lms::parseScalingText(*text);
        if (!value || *value <= 0 || text->find('/') != std::string::npos)
            return usageError("--lora_rank: expected a positive number, got " + *text);
        setup.merge.scaling.rank = *value;
    }
    if (auto square = parsed.value("square-base")) {
        if (*square == "out-in") setup.merge.plan.squareOrientation = lms::SquareOrientation::OutIn;
        else if (*square == "in-out") setup.merge.plan.squareOrientation = lms::SquareOrientation::InOut;
        else return usageError("--square-base takes out-in or in-out");
    }
    setup.merge.skipInvalid = parsed.has("skip-invalid");
    setup.merge.verify = !parsed.has("no-verify");
    setup.merge.checkInputCrc = !parsed.has("no-crc-check");
    setup.overwrite = parsed.has("overwrite");
    setup.merge.overwrite = setup.overwrite;
    setup.json = parsed.has("json");
    return std::nullopt;
}

std::string dims(const std::vector<int64_t>& d) { return lms::formatDims(d); }

void printPlan(const lms::ModelSource& source, const lms::LoraPlan& plan, const lms::MergeOptions& options) {
    std::printf("source: %s\n", source.description().c_str());
    std::printf("%zu parameters, %zu LoRA pairs (%zu ok, %zu with problems, %zu left out)\n", source.tensors().size(),
                plan.pairs.size(), plan.okPairs, plan.problemPairs, plan.disabledPairs);
    for (const auto& pair : plan.pairs) {
        const char* status = pair.status == lms::PairStatus::Ok ? "ok" : pair.status == lms::PairStatus::Disabled ? "left out" : "PROBLEM";
        std::string scaling;
        if (pair.status == lms::PairStatus::Ok) {
            if (auto s = options.scaling.scalingFor(pair.rank)) scaling = "  s=" + formatNumber(*s);
        }
        std::printf("  %-8s %s  base %s  A %s  B %s  r=%lld%s%s\n", status,
                    pair.base.empty() ? "(no base)" : pair.base.c_str(), dims(pair.baseDims).c_str(),
                    dims(pair.aDims).c_str(), dims(pair.bDims).c_str(), static_cast<long long>(pair.rank),
                    pair.transposed ? "  transposed" : "", scaling.c_str());
        if (pair.status == lms::PairStatus::Problem) std::printf("           %s\n", pair.problem.c_str());
    }
    size_t dropped = 0;
    for (bool d : plan.dropped) dropped += d;
    std::printf("output: %llu parameters, %s of tensor data (%zu LoRA and optimizer-copy tensors dropped)\n",
                static_cast<unsigned long long>(plan.tensorsToWrite), lms::formatBytes(plan.bytesToWrite).c_str(), dropped);
}

}  // namespace

int runPlan(const std::vector<std::string>& args, const GlobalOptions&) {
    MergeSetup setup;
    if (auto code = parseSetup(args, false, setup)) return *code;
    std::vector<std::string> notes;
    auto source = lms::openSource(setup.source, &notes);
    if (!source) return reportError(source.error());
    for (const auto& note : notes) std::printf("note: %s\n", note.c_str());
    const auto plan = lms::planLora((*source)->tensors(), setup.merge.plan);
    printPlan(**source, plan, setup.merge);
    if (!setup.merge.outputFile.empty()) std::printf("would write: %s\n", setup.merge.outputFile.c_str());
    if (plan.okPairs > 0 && !setup.merge.scaling.isSet())
        std::printf("note: no scaling given yet; the merge needs --lora_scaling ALPHA/RANK or --lora_alpha\n");
    return plan.problemPairs > 0 && !setup.merge.skipInvalid ? kExitFailed : kExitOk;
}

int runMerge(const std::vector<std::string>& args, const GlobalOptions& global) {
    MergeSetup setup;
    if (auto code = parseSetup(args, true, setup)) return *code;
    setup.source.writeMergedStrategy = true;  // the one command that writes it (seed docs)
    // A quick refusal before a long merge; the binding one is the no-clobber publish in the core.
    std::error_code ec;
    if (std::filesystem::exists(setup.merge.outputFile, ec) && !setup.overwrite)
        return reportError({lms::ErrorCode::InvalidArgument,
                            "the output file already exists; pass --overwrite to replace it or choose another --dst_ckpt_dir",
                            setup.merge.outputFile.string(), "dst_ckpt_dir", std::nullopt});
    if (setup.merge.reshard && !setup.overwrite) {
        const auto& strategy = *setup.merge.reshard->strategy;
        for (int64_t rank = 0; rank < strategy.devicesPerStage(); ++rank) {
            const auto file = lms::rankOutputFile(setup.dstDir, setup.merge.reshard->prefix, rank, setup.merge.format);
            if (std::filesystem::exists(file, ec))
                return reportError({lms::ErrorCode::InvalidArgument,
                                    "the output file already exists; pass --overwrite to replace it or choose another --dst_ckpt_dir",
                                    file.string(), "dst_ckpt_dir", std::nullopt});
        }
    }
    std::vector<std::string> notes;
    auto source = lms::openSource(setup.source, &notes);
    if (!source) return reportError(source.error());
    for (const auto& note : notes) lms::log().info("{}", note);
    if (!global.quiet)
        for (const auto& note : notes) std::fprintf(stderr, "loramerge: note: %s\n", note.c_str());

    ProgressPrinter printer(global.quiet);
    auto report = lms::runMerge(**source, setup.merge, [&](const lms::Progress& p) { printer.update(p); });
    printer.finish();
    if (!report) {
        auto error = report.error();
        if (error.file.empty()) error.file = setup.source.src.string();  // every error names a file
        return reportError(error);
    }
    if (!global.quiet) {
        for (const auto& note : report->notes) std::printf("note: %s\n", note.c_str());
        for (const auto& skipped : report->skipped) std::printf("skipped: %s\n", skipped.c_str());
        std::printf("merged %zu LoRA pair(s); wrote %zu parameters (%s) to %s%s in %.2f s\n", report->pairsMerged,
                    report->tensorsWritten, lms::formatBytes(report->bytesWritten).c_str(), report->outputFile.c_str(),
                    report->outputFiles.size() > 1
                        ? (" and " + std::to_string(report->outputFiles.size() - 1) + " more rank file(s)").c_str()
                        : "",
                    report->seconds);
    }
    return kExitOk;
}

}  // namespace cli
