// `loramerge adapter export SRC --dst DIR [--format ckpt|safetensors|peft] [--src_ckpt_strategy S]
// [--lora-only] [--lora_config F] [--lora_alpha A] [--overwrite]`: flag syntax only, the export is
// lms::exportAdapter's.
#include "Args.h"
#include "Cli.h"
#include "Terminal.h"

#include "lms/base/Text.h"
#include "lms/merge/AdapterExport.h"
#include "lms/merge/Merge.h"

#include <cstdio>

namespace cli {
namespace {

const std::vector<OptionSpec> kAdapterOptions{
    {"dst", true, ""},        {"format", true, ""},      {"src-ckpt-strategy", true, ""},
    {"lora-only", false, ""}, {"lora-config", true, ""}, {"lora-alpha", true, ""},
    {"overwrite", false, ""},
};

constexpr const char* kAdapterUsage =
    "adapter export SRC --dst DIR [--format ckpt|safetensors|peft] [--src_ckpt_strategy S] [--lora-only] "
    "[--lora_config F] [--lora_alpha A] [--overwrite]";

}  // namespace

const std::vector<OptionSpec>& adapterOptionSpecs() {
    return kAdapterOptions;
}

int runAdapter(const std::vector<std::string>& args, const GlobalOptions& global) {
    if (args.empty() || args.front() != "export")
        return usageError(std::string("usage: loramerge ") + kAdapterUsage);
    Args parsed;
    if (auto error = parsed.parse({args.begin() + 1, args.end()}, kAdapterOptions); !error.empty())
        return usageError(error);
    if (parsed.positionals().size() != 1) return usageError(std::string("usage: loramerge ") + kAdapterUsage);
    lms::AdapterExportRequest request;
    request.source = parsed.positionals().front();
    request.dstDir = parsed.value("dst").value_or("");
    if (request.dstDir.empty()) return usageError("adapter export needs --dst DIR");
    const std::string format = parsed.value("format").value_or("ckpt");
    if (format == "ckpt")
        request.format = lms::AdapterFormat::Ckpt;
    else if (format == "safetensors")
        request.format = lms::AdapterFormat::Safetensors;
    else if (format == "peft")
        request.format = lms::AdapterFormat::Peft;
    else
        return usageError("--format takes ckpt, safetensors or peft");
    if (auto strategy = parsed.value("src-ckpt-strategy"); strategy && *strategy != "None")
        request.strategy = *strategy;
    request.loraOnly = parsed.has("lora-only");
    request.overwrite = parsed.has("overwrite");
    request.configFile = parsed.value("lora-config").value_or("");
    if (auto text = parsed.value("lora-alpha")) {
        auto value = lms::parseScalingText(*text);
        if (!value || text->find('/') != std::string::npos)
            return usageError("--lora_alpha: not a number: " + *text);
        request.alpha = *value;
    }
    ProgressPrinter printer(global.quiet);
    auto report = lms::exportAdapter(request, [&](const lms::Progress& p) { printer.update(p); });
    printer.finish();
    if (!report) return reportError(report.error());
    if (!global.quiet) {
        for (const auto& note : report->notes) std::printf("note: %s\n", note.c_str());
        std::printf("exported %zu LoRA tensor(s) (%zu pair(s), %s) to", report->tensorsWritten, report->pairs,
                    lms::formatBytes(report->bytesWritten).c_str());
        for (const auto& file : report->files) std::printf(" %s", file.c_str());
        std::printf("\n");
    }
    return kExitOk;
}

}  // namespace cli
