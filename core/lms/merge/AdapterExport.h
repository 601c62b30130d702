#pragma once
// Exporting a LoRA adapter without merging it (issue 12, `loramerge adapter export`): a LoRA-only
// adapter however it was saved — one file, rank folders sliced by a strategy, a Checkpoint 2.0
// iteration, a PEFT folder — becomes one consolidated adapter: a MindSpore .ckpt or safetensors
// file with the same tensor names, or a PEFT folder (adapter_model.safetensors with
// base_model.model.<module>.lora_A.weight / lora_B.weight, and adapter_config.json).
//
// Tensors stream through the source's reassembly one row block at a time (memory bounded by a
// block) into a temp file; nothing appears under a final name until every output is complete, and
// an existing output is refused unless `overwrite`.

#include "lms/base/Error.h"
#include "lms/base/Progress.h"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lms {

struct LoraPlan;
struct SourceTensor;

enum class AdapterFormat {
    Ckpt,         // DST/adapter_model.ckpt, names as in the source
    Safetensors,  // DST/adapter_model.safetensors ({"format": "ms"}), names as in the source
    Peft,         // DST/adapter_model.safetensors (PEFT names) + DST/adapter_config.json
};

struct AdapterExportRequest {
    std::filesystem::path source;    // the adapter: file, rank folders, Checkpoint 2.0, PEFT folder
    std::filesystem::path strategy;  // for rank folders; empty: found near them (findStrategyNear)
    std::filesystem::path dstDir;
    AdapterFormat format = AdapterFormat::Ckpt;
    // The source is a whole model (base weights beside the LoRA): write only its LoRA tensors.
    // Without it such a source is refused (it is a model, not an adapter).
    bool loraOnly = false;
    bool overwrite = false;
    // Peft only: r and lora_alpha of adapter_config.json from this config (readLoraConfig); empty:
    // findLoraConfig(source). Without a config, `alpha` must be given (r then comes from the shapes).
    std::filesystem::path configFile;
    std::optional<double> alpha;
};

struct AdapterExportReport {
    std::vector<std::filesystem::path> files;  // published, in the order written
    size_t tensorsWritten = 0;
    size_t pairs = 0;
    uint64_t bytesWritten = 0;  // tensor data
    std::vector<std::string> notes;
};

// Runs an export. Errors (one, naming the file and the parameter): the source cannot be opened; it
// holds tensors that are neither LoRA nor 1-element bookkeeping records (listed; see loraOnly); it
// holds no LoRA tensor; Peft: a LoRA tensor that is not half of an A/B pair, no lora_alpha known, a
// config rank that differs from the shapes; an output exists (without overwrite) or is an input.
// Bookkeeping records (epoch_num, global_step, ...) and optimizer copies of LoRA tensors are left
// out with a note. Before publishing, the finished tensor file is re-read and compared byte for
// byte with the source.
[[nodiscard]] Result<AdapterExportReport> exportAdapter(const AdapterExportRequest& request,
                                                        const ProgressCallback& progress = {},
                                                        const CancelToken* cancel = nullptr);

// The module a LoRA A tensor belongs to: its name without the A suffix (`.mindpet_delta_lora_a`,
// `.tk_delta_lora_a`, `.lora_A.weight`, `.lora_A.<adapter>.weight`, `.lora_a`; any case) and
// without a PEFT `base_model.model.` prefix. Empty when the name has none of these suffixes.
std::string loraModuleOf(std::string_view aName);

}  // namespace lms
