// `loramerge inspect FILE [--stats] [--json]` and `loramerge demo DIR`.
#include "Args.h"
#include "Cli.h"
#include "Terminal.h"

#include "lms/analysis/TensorStats.h"
#include "lms/base/Json.h"
#include "lms/base/Text.h"
#include "lms/formats/Checkpoint.h"
#include "lms/formats/Source.h"
#include "lms/lora/LoraPlan.h"
#include "lms/merge/Demo.h"

#include <cstdio>

namespace cli {
namespace {

// The text as the body of a JSON string (the core's writer: escapes, and U+FFFD for bad UTF-8).
std::string jsonEscape(std::string_view text) {
    const std::string quoted = lms::toJson(lms::JsonValue(text));
    return quoted.substr(1, quoted.size() - 2);
}

std::string dimsText(const std::vector<int64_t>& dims, const char* separator) {
    return lms::formatDims(dims, separator);
}

// %.9g keeps every float32 value exact and reads back in JSON; non-finite cannot occur (the
// statistics cover finite values only).
std::string number(double value) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", value);
    return buf;
}

// `inspect --stats`: statistics of every parameter, streamed in row blocks (core TensorStats).
// Parameters without numeric values (text, Int4) get a note instead; a read error stops the run.
int printStats(const std::string& path, std::shared_ptr<lms::CheckpointFile> file, bool json) {
    const auto source = lms::makeFullSource(std::move(file));
    const auto& tensors = source->tensors();
    if (json)
        std::printf("{\"file\":\"%s\",\"parameters\":[", jsonEscape(path).c_str());
    else
        std::printf("%-40s  %14s  %14s  %14s  %14s  %6s  %6s  %8s\n", "name", "min", "max", "mean", "std",
                    "nan", "inf", "zeros");
    for (size_t i = 0; i < tensors.size(); ++i) {
        const auto stats = lms::computeStatistics(*source, i, 16);
        if (!stats && stats.error().code != lms::ErrorCode::Unsupported) return reportError(stats.error());
        const char* name = tensors[i].name.c_str();
        if (json) {
            std::printf("%s{\"name\":\"%s\"", i ? "," : "", jsonEscape(tensors[i].name).c_str());
            if (!stats) {
                std::printf(",\"stats\":null,\"note\":\"%s\"}", jsonEscape(stats.error().message).c_str());
                continue;
            }
            std::printf(
                ",\"count\":%llu,\"finite\":%llu,\"min\":%s,\"max\":%s,\"mean\":%s,\"std\":%s,"
                "\"nan\":%llu,\"pos_inf\":%llu,\"neg_inf\":%llu,\"zeros\":%llu}",
                (unsigned long long)stats->count, (unsigned long long)stats->finite,
                number(stats->min).c_str(), number(stats->max).c_str(), number(stats->mean).c_str(),
                number(stats->stddev).c_str(), (unsigned long long)stats->nan,
                (unsigned long long)stats->posInf, (unsigned long long)stats->negInf,
                (unsigned long long)stats->zeros);
        } else if (!stats) {
            std::printf("%-40s  (%s)\n", name, stats.error().message.c_str());
        } else {
            std::printf("%-40s  %14s  %14s  %14s  %14s  %6llu  %6llu  %8llu\n", name,
                        number(stats->min).c_str(), number(stats->max).c_str(), number(stats->mean).c_str(),
                        number(stats->stddev).c_str(), (unsigned long long)stats->nan,
                        (unsigned long long)(stats->posInf + stats->negInf),
                        (unsigned long long)stats->zeros);
        }
    }
    if (json) std::printf("]}\n");
    return kExitOk;
}

}  // namespace

int runInspect(const std::vector<std::string>& args, const GlobalOptions&) {
    Args parsed;
    if (auto error = parsed.parse(args, {{"json", false, ""}, {"stats", false, ""}}); !error.empty())
        return usageError(error);
    if (parsed.positionals().size() != 1) return usageError("inspect takes one checkpoint file");
    const std::string path = parsed.positionals().front();
    auto file = lms::CheckpointFile::open(path);
    if (!file) return reportError(file.error());
    if (parsed.has("stats")) return printStats(path, *file, parsed.has("json"));
    const auto& tensors = (*file)->tensors();
    uint64_t total = 0;
    for (const auto& t : tensors) total += t.byteSize;
    const bool safetensors = (*file)->format() == lms::CheckpointFormat::Safetensors;
    if (parsed.has("json")) {
        std::printf(
            "{\"file\":\"%s\",\"format\":\"%s\",\"file_bytes\":%llu,\"crc_trailer\":%s,\"parameters\":[",
            jsonEscape(path).c_str(), safetensors ? "safetensors" : "ckpt",
            static_cast<unsigned long long>((*file)->fileSize()), (*file)->crc().present ? "true" : "false");
        for (size_t i = 0; i < tensors.size(); ++i) {
            const auto& t = tensors[i];
            std::printf(
                "%s{\"name\":\"%s\",\"dtype\":\"%s\",\"shape\":%s,\"bytes\":%llu,\"chunks\":%zu,\"role\":\"%"
                "s\"%s}",
                i ? "," : "", jsonEscape(t.name).c_str(), jsonEscape(t.typeName).c_str(),
                dimsText(t.dims, ",").c_str(), static_cast<unsigned long long>(t.byteSize), t.chunks.size(),
                lms::tensorRoleName(lms::classifyName(t.name)),
                t.kind == lms::TensorKind::MapTensor ? ",\"map_tensor\":true"
                : t.legacyScalar                     ? ",\"legacy_scalar\":true"
                                                     : "");
        }
        std::printf("]}\n");
        return kExitOk;
    }
    size_t nameWidth = 4;
    for (const auto& t : tensors) nameWidth = std::max(nameWidth, std::min<size_t>(t.name.size(), 80));
    std::printf("%s: %s, %zu parameters, %s of tensor data%s\n", path.c_str(),
                safetensors ? "safetensors" : "MindSpore checkpoint", tensors.size(),
                lms::formatBytes(total).c_str(), (*file)->crc().present ? ", crc_num trailer" : "");
    std::printf("%-*s  %-9s  %-16s  %12s  %s\n", int(nameWidth), "name", "dtype", "shape", "bytes", "role");
    for (const auto& t : tensors) {
        std::string shape = t.kind == lms::TensorKind::MapTensor ? "(map tensor)" : dimsText(t.dims, ", ");
        if (t.legacyScalar) shape += " scalar";
        std::printf("%-*s  %-9s  %-16s  %12llu  %s\n", int(nameWidth), t.name.c_str(), t.typeName.c_str(),
                    shape.c_str(), static_cast<unsigned long long>(t.byteSize),
                    lms::tensorRoleName(lms::classifyName(t.name)));
    }
    return kExitOk;
}

int runDemo(const std::vector<std::string>& args, const GlobalOptions& global) {
    Args parsed;
    if (auto error = parsed.parse(args, {}); !error.empty()) return usageError(error);
    if (parsed.positionals().size() != 1) return usageError("demo takes the folder to write into");
    auto info = lms::writeDemo(parsed.positionals().front());
    if (!info) return reportError(info.error());
    if (!global.quiet) {
        std::printf("wrote the demo checkpoints:\n  full:        %s\n  distributed: %s (strategy in %s)\n",
                    info->fullCheckpoint.c_str(), info->distributedDir.c_str(), info->strategyDir.c_str());
        std::printf("try:\n  loramerge --src_ckpt_path_or_dir %s --dst_ckpt_dir OUT --lora_scaling %g/%d\n",
                    info->fullCheckpoint.c_str(), info->loraAlpha, info->loraRank);
    }
    return kExitOk;
}

}  // namespace cli
