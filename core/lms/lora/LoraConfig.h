#pragma once
// LoRA settings as training wrote them (issue 12): the scaling is read from the file that trained
// the adapter, with provenance, never guessed. Peers that guess get it wrong silently (the old
// MindFormers script's default 1, LoraConfig's default alpha 16, the Mcore layers' 32).

#include "lms/base/Error.h"
#include "lms/base/Json.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lms {

enum class LoraConfigKind {
    MindFormersYamlPetConfig,  // model.model_config.pet_config of a static-graph training YAML
    MindFormersYamlPyNative,   // top-level lora_config of a PyNative training YAML
    Peft,                      // PEFT adapter_config.json
};

struct LoraSettings {
    double alpha = 0;
    int64_t rank = 0;
    bool useRslora = false;  // s = alpha/√r instead of alpha/r (PEFT use_rslora)
    // PEFT rank_pattern / alpha_pattern in file order (the first matching key wins).
    std::vector<std::pair<std::string, int64_t>> rankPattern;
    std::vector<std::pair<std::string, double>> alphaPattern;
    std::vector<std::string> targetModules;  // PEFT list, or MindFormers' one regex string as one entry
    LoraConfigKind kind = LoraConfigKind::Peft;
    std::filesystem::path file;
    // "from finetune.yaml: model.model_config.pet_config lora_alpha 32, lora_rank 8"
    std::string provenance;

    // The scaling of the module `moduleName` (a base weight's name without ".weight") whose A
    // tensor has `rankFromShapes` rows: alpha/r, or alpha/√r with useRslora, r and alpha taken from
    // the first pattern key k with re.match(rf"(.*\.)?({k})$", moduleName) (PEFT get_pattern_key).
    // Error (Mismatch, naming the module and the file) when the configured r differs from the shapes.
    [[nodiscard]] Result<double> scalingFor(std::string_view moduleName, int64_t rankFromShapes) const;
};

// PEFT's pattern rule: `key` matches `moduleName` when re.match(rf"(.*\.)?({key})$", moduleName)
// holds, so "layers.1.v_proj" matches "model.layers.1.v_proj" but not "model.layers.11.v_proj".
// A key that is not a valid regular expression matches nothing.
bool peftPatternMatches(std::string_view key, std::string_view moduleName);

// Settings from a parsed MindFormers YAML document / PEFT adapter_config.json; `file` names errors.
[[nodiscard]] Result<LoraSettings> loraSettingsFromYaml(const JsonValue& doc,
                                                        const std::filesystem::path& file);
[[nodiscard]] Result<LoraSettings> loraSettingsFromPeft(const JsonValue& doc,
                                                        const std::filesystem::path& file);

// Reads a config file: *.json as PEFT adapter_config.json, anything else as a MindFormers YAML.
// Errors name the file and the key (e.g. parameter "lora_alpha" when it is missing).
[[nodiscard]] Result<LoraSettings> readLoraConfig(const std::filesystem::path& file);

// Looks for the config of an adapter or model where it is conventionally kept, conservatively:
// adapter_config.json inside `path` when it is a folder (PEFT saves it beside
// adapter_model.safetensors), and *.yaml / *.yml files beside a checkpoint file (or inside a
// checkpoint folder) that hold a LoRA block. Empty when there is none; error (InvalidArgument,
// listing them) when there are several candidates.
[[nodiscard]] Result<std::filesystem::path> findLoraConfig(const std::filesystem::path& path);

}  // namespace lms
