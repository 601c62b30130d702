#pragma once
// LoRA settings as training wrote them (issue 12): the scaling is read from the file that trained
// the adapter, with provenance, never guessed. Peers that guess get it wrong silently (the old
// MindFormers script's default 1, LoraConfig's default alpha 16, the Mcore layers' 32).

#include "lms/base/Error.h"
#include "lms/base/Json.h"
#include "lms/lora/LoraPlan.h"

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
    // mindformers_adapter_config.json ("format": "mindformers_pynative_lora_adapter_v1"): a
    // lora_config object and the fingerprint of the base the adapter was trained on.
    MindFormersManifest,
};

inline constexpr const char* kMindFormersManifestName = "mindformers_adapter_config.json";
inline constexpr const char* kMindFormersManifestFormat = "mindformers_pynative_lora_adapter_v1";

struct LoraSettings {
    double alpha = 0;
    int64_t rank = 0;
    bool useRslora = false;  // s = alpha/√r instead of alpha/r (PEFT use_rslora)
    // PEFT rank_pattern / alpha_pattern in file order (the first matching key wins).
    std::vector<std::pair<std::string, int64_t>> rankPattern;
    std::vector<std::pair<std::string, double>> alphaPattern;
    std::vector<std::string> targetModules;  // PEFT list, or MindFormers' one regex string as one entry
    bool targetModulesRegex = false;  // PEFT target_modules given as one string: a regex (re.fullmatch)
    // MindFormers exclude_layers / PEFT exclude_modules (same matching rules as targetModules).
    std::vector<std::string> excludeModules;
    bool excludeModulesRegex = false;
    // Why target_modules cannot be checked from names alone (PEFT layers_to_transform); empty: it can.
    std::string targetCheckSkipped;
    std::string baseFingerprint;  // MindFormersManifest base_fingerprint (empty when absent)
    LoraConfigKind kind = LoraConfigKind::Peft;
    std::filesystem::path file;
    // "from finetune.yaml: model.model_config.pet_config lora_alpha 32, lora_rank 8"
    std::string provenance;

    // The scaling of the module `moduleName` (a base weight's name without ".weight") whose A
    // tensor has `rankFromShapes` rows: alpha/r, or alpha/√r with useRslora, r and alpha taken from
    // the first pattern key k with re.match(rf"(.*\.)?({k})$", moduleName) (PEFT get_pattern_key).
    // Error (Mismatch, naming the module and the file) when the configured r differs from the shapes.
    [[nodiscard]] Result<double> scalingFor(std::string_view moduleName, int64_t rankFromShapes) const;
    // Which pattern keys scalingFor applies to `moduleName`, for the plan: `rank_pattern "o_proj"`,
    // `alpha_pattern "layers.1.v_proj"`, both joined by ", ", or empty when the global r and alpha apply.
    std::string patternsFor(std::string_view moduleName) const;

    // Whether target_modules selects the module `moduleName` (a weight's name without ".weight"), as
    // the trainer matched it: PEFT check_target_module_exists (a list: the name equals an entry or
    // ends with "." + entry; one string: re.fullmatch) and MindFormers recursive_replace_dense_cell
    // (re.match of the regex at the start of the cell's attribute name, the last dotted component).
    // False when there are no target_modules, for PEFT's "all-linear" and for an invalid regex.
    bool targets(std::string_view moduleName) const;
    // target_modules as the file wrote it, for messages: ".*wq|.*wk" or [q_proj, v_proj].
    std::string targetModulesText() const;
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
// A MindFormers manifest: "format" must be kMindFormersManifestFormat and "lora_config" an object
// with lora_alpha and lora_rank or r (both: they must agree), optionally use_rslora and
// target_modules; "base_fingerprint" is kept as written.
[[nodiscard]] Result<LoraSettings> loraSettingsFromManifest(const JsonValue& doc,
                                                            const std::filesystem::path& file);

// One adapter of an S-LoRA lora_adapter.json (MindFormers trainer/utils.py load_slora_ckpt): the
// file maps adapter names to folders, each holding adapter_model.ckpt and adapter_config.json.
struct SloraAdapter {
    std::string name;
    std::filesystem::path dir;         // as written; a relative one is taken from the file's folder
    std::filesystem::path checkpoint;  // dir / adapter_model.ckpt
    LoraSettings settings;             // from dir / adapter_config.json (PEFT keys)
};
inline constexpr const char* kSloraMapName = "lora_adapter.json";
// Every adapter of a lora_adapter.json in file order, each with its settings. Errors name the
// file and the key: not an object, a path that is not a string, an adapter_config.json missing
// or without r / lora_alpha (the error then names that adapter_config.json).
[[nodiscard]] Result<std::vector<SloraAdapter>> readSloraAdapters(const std::filesystem::path& file);

// Reads a config file: a *.json with a "format" key (or named mindformers_adapter_config.json) as a
// MindFormers manifest, any other *.json as PEFT adapter_config.json, anything else as a
// MindFormers YAML. Errors name the file and the key (e.g. parameter "lora_alpha" when it is missing).
[[nodiscard]] Result<LoraSettings> readLoraConfig(const std::filesystem::path& file);

// The weights `settings.targets()` selects that no LoRA pair of `plan` merges into, in source order:
// floating-point tensors of two or more dimensions named `<module>.weight` (PEFT's
// `<module>.base_layer.weight` counted as `<module>`) that are not LoRA or optimizer copies. A pair
// with a problem or left out by the user covers its base (those are reported on their own).
std::vector<std::string> untargetedWeights(const std::vector<SourceTensor>& tensors, const LoraPlan& plan,
                                           const LoraSettings& settings);

// Looks for the config of an adapter or model where it is conventionally kept, conservatively:
// first mindformers_adapter_config.json in the folder (`path`, or a file's folder) and up to 3
// parents, nearest first — it wins when found, as in MindFormers' read_adapter_config; else
// adapter_config.json in the folder (PEFT saves it beside adapter_model.safetensors), and *.yaml /
// *.yml files in the folder that hold a LoRA block. Empty when there is none; error
// (InvalidArgument, listing them) when there are several candidates.
[[nodiscard]] Result<std::filesystem::path> findLoraConfig(const std::filesystem::path& path);

}  // namespace lms
