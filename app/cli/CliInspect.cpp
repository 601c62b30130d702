// `loramerge inspect FILE [--json]` and `loramerge demo DIR`.
#include "Args.h"
#include "Cli.h"
#include "Terminal.h"

#include "lms/Checkpoint.h"
#include "lms/Demo.h"
#include "lms/LoraPlan.h"
#include "lms/Text.h"

#include <cstdio>

namespace cli {
namespace {

std::string jsonEscape(std::string_view text) {
    std::string out;
    for (char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                char buf[8];
                std::snprintf(buf, sizeof buf, "\\u%04x", c);
                out += buf;
            } else {
                out += c;
            }
        }
    }
    return out;
}

std::string dimsText(const std::vector<int64_t>& dims, const char* separator) { return lms::formatDims(dims, separator); }

}  // namespace

int runInspect(const std::vector<std::string>& args, const GlobalOptions&) {
    Args parsed;
    if (auto error = parsed.parse(args, {{"json", false, ""}}); !error.empty()) return usageError(error);
    if (parsed.positionals().size() != 1) return usageError("inspect takes one checkpoint file");
    const std::string path = parsed.positionals().front();
    auto file = lms::CheckpointFile::open(path);
    if (!file) return reportError(file.error());
    const auto& tensors = (*file)->tensors();
    uint64_t total = 0;
    for (const auto& t : tensors) total += t.byteSize;
    const bool safetensors = (*file)->format() == lms::CheckpointFormat::Safetensors;
    if (parsed.has("json")) {
        std::printf("{\"file\":\"%s\",\"format\":\"%s\",\"file_bytes\":%llu,\"crc_trailer\":%s,\"parameters\":[",
                    jsonEscape(path).c_str(), safetensors ? "safetensors" : "ckpt",
                    static_cast<unsigned long long>((*file)->fileSize()), (*file)->crc().present ? "true" : "false");
        for (size_t i = 0; i < tensors.size(); ++i) {
            const auto& t = tensors[i];
            std::printf("%s{\"name\":\"%s\",\"dtype\":\"%s\",\"shape\":%s,\"bytes\":%llu,\"chunks\":%zu,\"role\":\"%s\"%s}",
                        i ? "," : "", jsonEscape(t.name).c_str(), jsonEscape(t.typeName).c_str(),
                        dimsText(t.dims, ",").c_str(), static_cast<unsigned long long>(t.byteSize), t.chunks.size(),
                        lms::tensorRoleName(lms::classifyName(t.name)),
                        t.kind == lms::TensorKind::MapTensor ? ",\"map_tensor\":true" : t.legacyScalar ? ",\"legacy_scalar\":true" : "");
        }
        std::printf("]}\n");
        return kExitOk;
    }
    size_t nameWidth = 4;
    for (const auto& t : tensors) nameWidth = std::max(nameWidth, std::min<size_t>(t.name.size(), 80));
    std::printf("%s: %s, %zu parameters, %s of tensor data%s\n", path.c_str(), safetensors ? "safetensors" : "MindSpore checkpoint",
                tensors.size(), lms::formatBytes(total).c_str(), (*file)->crc().present ? ", crc_num trailer" : "");
    std::printf("%-*s  %-9s  %-16s  %12s  %s\n", int(nameWidth), "name", "dtype", "shape", "bytes", "role");
    for (const auto& t : tensors) {
        std::string shape = t.kind == lms::TensorKind::MapTensor ? "(map tensor)" : dimsText(t.dims, ", ");
        if (t.legacyScalar) shape += " scalar";
        std::printf("%-*s  %-9s  %-16s  %12llu  %s\n", int(nameWidth), t.name.c_str(), t.typeName.c_str(), shape.c_str(),
                    static_cast<unsigned long long>(t.byteSize), lms::tensorRoleName(lms::classifyName(t.name)));
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
